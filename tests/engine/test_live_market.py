"""Live market data through the production classes, pointed at local servers that speak the real APIs:
Binance spot REST for ccxt (tests/support/fake_exchange.py) and Alpaca's data API
(tests/support/fake_alpaca_data.py). Expected values are what the servers were given, or computed by hand."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from engine.fetching import FetchPolicy
from engine.market import sessions
from engine.market.alpaca_market import AlpacaMarket
from engine.market.base import (
    MarketData,
    MarketUnavailable,
    NoData,
    StaleData,
    UnknownSymbol,
    UnknownTimeframe,
)
from engine.market.ccxt_market import CcxtMarket, rebase_urls, tick_decimals
from engine.market.router import RoutedMarket
from engine.models import Candles
from tests.support.fake_alpaca_data import FakeAlpacaData, StockBar
from tests.support.fake_exchange import FakeBinance, Kline

# Generous per-request timeout: a loaded two-core CI machine must not turn a 500 into a timeout
# (the hang tests use their own policy).
FAST = FetchPolicy(attempts=3, timeout=5.0, initial=0.01, maximum=0.02, max_retry_after=2.0, jitter=0.0, budget=20.0)
ET = ZoneInfo("America/New_York")
H = 3600


def klines(fake: FakeBinance) -> list[dict[str, str]]:
    return [q for path, q in fake.queries if path == "/api/v3/klines"]


def closes(n: int, start: float = 100.0) -> list[float]:
    """Closes with two decimals that move both ways (a plain rule, nothing the code under test computes)."""
    return [round(start + i * 0.25 + (i % 5) * 0.37 - (i % 3) * 0.41, 2) for i in range(n)]


# ---- ccxt (Binance spot) ----------------------------------------------------------------------------------


@pytest.fixture
async def binance() -> AsyncIterator[FakeBinance]:
    async with FakeBinance() as fake:
        yield fake


@pytest.fixture
def now() -> float:
    return time.time()


def ccxt_market(fake: FakeBinance, now: float, policy: FetchPolicy = FAST) -> CcxtMarket:
    m = CcxtMarket("binance", api_url=fake.base_url, policy=policy, clock=lambda: now)
    m.exchange.timeout_on_exit = 0  # ccxt waits 250 ms at close for TLS connections to drain; these are plain HTTP
    return m


@pytest.fixture
async def market(binance: FakeBinance, now: float) -> AsyncIterator[CcxtMarket]:
    m = ccxt_market(binance, now)
    yield m
    await m.close()


async def test_fresh_candles_are_the_closed_bars_the_exchange_sent(binance: FakeBinance, market: CcxtMarket,
                                                                   now: float) -> None:
    given = closes(250)
    served = binance.set_candles("BTCUSDT", H, given, now=now)
    binance.prices["BTCUSDT"] = Decimal("163.37")  # the ticker's last trade, unlike any close

    candles = await market.fetch_ohlcv("btc/usdt", "1h", 200)

    assert isinstance(market, MarketData)
    forming = served[-1]
    closed = served[:-1][-200:]
    assert forming.open_time == int(now) // H * H  # the server's last row is the bar forming now …
    assert len(candles) == 200 and forming.open_time not in candles.timestamps.tolist()  # … and it is dropped
    assert candles.close.tolist() == given[-200:]
    assert candles.timestamps.tolist() == [b.open_time for b in closed]
    assert candles.open.tolist() == [b.open for b in closed]
    assert candles.high.tolist() == [b.high for b in closed]
    assert candles.low.tolist() == [b.low for b in closed]
    assert candles.volume.tolist() == [b.volume for b in closed]
    assert candles.last_price == 163.37
    assert (candles.symbol, candles.timeframe, candles.demo, candles.forming) == ("BTC/USDT", "1h", False, False)
    assert "Binance" in candles.source and "live" in candles.source and "DEMO" not in candles.source.upper()
    assert candles.price_decimals == 2  # tick 0.01
    assert klines(binance)[-1] == {"symbol": "BTCUSDT", "interval": "1h", "limit": "201"}  # one extra bar
    assert ("GET", "/api/v3/ticker/24hr") in binance.requests
    assert await market.as_of("BTC/USDT") is None


async def test_markets_load_once(binance: FakeBinance, market: CcxtMarket, now: float) -> None:
    binance.set_candles("BTCUSDT", H, closes(100), now=now)
    binance.set_candles("ETHUSDT", H, closes(100, 3000), now=now)
    await market.fetch_ohlcv("BTC/USDT", "1h", 60)
    await market.fetch_ohlcv("ETH/USDT", "1h", 60)
    await market.last_price("ETH/USDT")
    assert binance.requests.count(("GET", "/api/v3/exchangeInfo")) == 1
    assert market.symbols() == ["BTC/USDT", "ETH/USDT"]


async def test_price_precision_and_last_price_from_the_tick_size(binance: FakeBinance, market: CcxtMarket,
                                                                 now: float) -> None:
    binance.add_market("XRPUSDT", "XRP", "USDT", tick=Decimal("0.0001"))
    binance.set_candles("XRPUSDT", H, [0.5, 0.51, 0.52] * 30, now=now)
    binance.prices["XRPUSDT"] = Decimal("0.51237")
    candles = await market.fetch_ohlcv("XRP/USDT", "1h", 60)
    assert candles.price_decimals == 4
    assert await market.last_price("XRP/USDT") == Decimal("0.5124")  # 0.51237 to the 0.0001 tick
    assert await market.last_price("BTC/USDT") == Decimal("60000.00")
    assert (tick_decimals(0.01), tick_decimals(1e-05), tick_decimals("0.5"), tick_decimals(10)) == (2, 5, 1, 0)


async def test_a_failing_ticker_falls_back_to_the_last_close(binance: FakeBinance, market: CcxtMarket,
                                                             now: float) -> None:
    given = closes(100)
    binance.set_candles("BTCUSDT", H, given, now=now)
    binance.fail_next("GET", "/api/v3/ticker", 400, {"code": -1100, "msg": "Illegal characters found in a parameter."})
    candles = await market.fetch_ohlcv("BTC/USDT", "1h", 60)
    assert candles.last_price == given[-1]


async def test_more_bars_than_one_request_walks_forward(binance: FakeBinance, market: CcxtMarket, now: float) -> None:
    given = closes(2500)
    binance.set_candles("BTCUSDT", H, given, now=now)
    candles = await market.fetch_ohlcv("BTC/USDT", "1h", 1500)
    assert candles.close.tolist() == given[-1500:]
    pages = klines(binance)
    # 1,501 bars wanted (1,500 closed + the forming one) at Binance's 1,000 per request: two pages.
    assert [p["limit"] for p in pages] == ["1000", "1000"]
    assert int(pages[0]["startTime"]) == (int(now) // H * H - 1500 * H) * 1000


async def test_stale_data_is_refused(binance: FakeBinance, market: CcxtMarket, now: float) -> None:
    binance.set_candles("BTCUSDT", H, closes(100), stale_bars=3, now=now)
    with pytest.raises(StaleData) as caught:
        await market.fetch_ohlcv("BTC/USDT", "1h", 60)
    last_close = int(now) // H * H - 3 * H  # the last closed bar ended three bars before the current one began
    assert caught.value.last_close == datetime.fromtimestamp(last_close, tz=UTC)
    assert "Stale data" in str(caught.value) and "BTC/USDT" in str(caught.value) and "\n" not in str(caught.value)


async def test_a_bar_closed_under_two_timeframes_ago_is_fresh(binance: FakeBinance, market: CcxtMarket,
                                                              now: float) -> None:
    binance.set_candles("BTCUSDT", H, closes(100), stale_bars=1, now=now)  # last close ≤ 2 h ago
    candles = await market.fetch_ohlcv("BTC/USDT", "1h", 60)
    assert int(candles.timestamps[-1]) == int(now) // H * H - 2 * H


async def test_429_then_success_honours_retry_after(binance: FakeBinance, market: CcxtMarket, now: float) -> None:
    given = closes(100)
    binance.set_candles("BTCUSDT", H, given, now=now)
    await market.last_price("BTC/USDT")  # markets loaded: only the candle request is timed
    binance.rate_limit_next("GET", "/api/v3/klines", retry_after=0.4)  # type: ignore[arg-type]
    start = time.perf_counter()
    candles = await market.fetch_ohlcv("BTC/USDT", "1h", 60)
    elapsed = time.perf_counter() - start
    assert candles.close.tolist() == given[-60:]
    assert len(klines(binance)) == 2  # one retry
    assert elapsed >= 0.4  # Retry-After, not the policy's 0.01 s backoff
    assert market.status()["ccxt binance"].startswith("ok")


@pytest.mark.parametrize("body", ["<html><body>500 Internal Server Error</body></html>",
                                  {"code": -1000, "msg": "An unknown error occurred while processing the request."}])
async def test_persistent_500_gives_up_after_the_policy_attempts(binance: FakeBinance, market: CcxtMarket,
                                                                 now: float, body: object) -> None:
    binance.set_candles("BTCUSDT", H, closes(100), now=now)
    for _ in range(FAST.attempts + 2):
        binance.fail_next("GET", "/api/v3/klines", 500, body)  # type: ignore[arg-type]
    with pytest.raises(MarketUnavailable) as caught:
        await market.fetch_ohlcv("BTC/USDT", "1h", 60)
    assert len(klines(binance)) == FAST.attempts
    message = str(caught.value)
    assert "Binance is unavailable" in message and f"after {FAST.attempts} tries" in message
    assert "\n" not in message and "Traceback" not in message and not caught.value.auth
    assert market.status()["ccxt binance"].startswith("degraded: Binance is unavailable")


async def test_a_hanging_exchange_times_out(binance: FakeBinance, now: float) -> None:
    policy = FetchPolicy(attempts=2, timeout=0.2, initial=0.01, maximum=0.01, jitter=0.0, budget=5.0)
    market = ccxt_market(binance, now, policy)
    try:
        binance.set_candles("BTCUSDT", H, closes(100), now=now)
        await market.last_price("BTC/USDT")
        for _ in range(policy.attempts):
            binance.hang_next("/api/v3/klines", 2.0)
        start = time.perf_counter()
        with pytest.raises(MarketUnavailable) as caught:
            await market.fetch_ohlcv("BTC/USDT", "1h", 60)
        assert time.perf_counter() - start < 1.5  # two tries of 0.2 s, not the server's 2 s
        assert "did not answer within 0.2 s" in str(caught.value)
        assert len(klines(binance)) == policy.attempts
    finally:
        await market.close()


@pytest.mark.parametrize("kind", ["html", "truncated", "garbage"])
async def test_a_malformed_body_is_unavailable_not_candles(binance: FakeBinance, market: CcxtMarket, now: float,
                                                           kind: str) -> None:
    given = closes(100)
    binance.set_candles("BTCUSDT", H, given, now=now)
    binance.malformed_next("/api/v3/klines", kind)
    with pytest.raises(MarketUnavailable) as caught:
        await market.fetch_ohlcv("BTC/USDT", "1h", 60)
    assert "malformed answer" in str(caught.value) and "\n" not in str(caught.value)
    assert (await market.fetch_ohlcv("BTC/USDT", "1h", 60)).close.tolist() == given[-60:]  # nothing cached


async def test_a_candle_with_a_high_below_its_close_is_malformed(binance: FakeBinance, market: CcxtMarket,
                                                                 now: float) -> None:
    from tests.support.fake_exchange import Kline

    bucket = int(now) // H * H
    bad = [Kline(bucket - 2 * H, 10.0, 11.0, 9.0, 10.5, 1.0), Kline(bucket - H, 10.5, 10.6, 9.5, 10.9, 1.0),
           Kline(bucket, 10.9, 11.0, 10.8, 10.9, 1.0)]
    binance.set_bars("BTCUSDT", H, bad)
    with pytest.raises(MarketUnavailable, match="outside its low–high range"):
        await market.fetch_ohlcv("BTC/USDT", "1h", 2)


async def test_a_malformed_market_list_is_not_cached(binance: FakeBinance, market: CcxtMarket, now: float) -> None:
    binance.set_candles("BTCUSDT", H, closes(100), now=now)
    binance.malformed_next("/api/v3/exchangeInfo", "html")
    with pytest.raises(MarketUnavailable, match="no spot markets"):
        await market.fetch_ohlcv("BTC/USDT", "1h", 60)
    assert len(await market.fetch_ohlcv("BTC/USDT", "1h", 60)) == 60
    assert binance.requests.count(("GET", "/api/v3/exchangeInfo")) == 2


async def test_unknown_symbol_names_close_matches(binance: FakeBinance, market: CcxtMarket) -> None:
    binance.add_market("SOLUSDT", "SOL", "USDT")
    with pytest.raises(UnknownSymbol) as caught:
        await market.fetch_ohlcv("BTC/USDC", "1h", 60)
    assert "BTC/USDT" in caught.value.available and "SOL/USDT" not in caught.value.available
    assert "BTC/USDC" in str(caught.value) and "\n" not in str(caught.value)
    assert klines(binance) == []  # refused before any candle request
    with pytest.raises(UnknownSymbol):
        market.timeframes("DOGE/EUR")  # markets are loaded now: checked without a request


async def test_unknown_timeframe(binance: FakeBinance, market: CcxtMarket) -> None:
    with pytest.raises(UnknownTimeframe) as caught:
        await market.fetch_ohlcv("BTC/USDT", "5m", 60)
    assert caught.value.available == ["15m", "1h", "4h", "1d"]


async def test_http_451_names_another_exchange(binance: FakeBinance, market: CcxtMarket) -> None:
    binance.restricted_next("GET", "/api/v3/exchangeInfo")
    with pytest.raises(MarketUnavailable) as caught:
        await market.fetch_ohlcv("BTC/USDT", "1h", 60)
    message = str(caught.value)
    assert "HTTP 451" in message and "market.exchange" in message and "kraken" in message
    assert binance.requests.count(("GET", "/api/v3/exchangeInfo")) == 1  # not retried: it will not change


async def test_status_lines(binance: FakeBinance, market: CcxtMarket, now: float) -> None:
    assert market.status() == {"ccxt binance": "idle · markets load on the first request"}
    binance.set_candles("BTCUSDT", H, closes(100), now=now)
    await market.fetch_ohlcv("BTC/USDT", "1h", 60)
    stamp = datetime.fromtimestamp(now, tz=UTC)
    assert market.status() == {"ccxt binance": f"ok · 2 spot markets · last answer {stamp:%H:%M:%S} UTC"}


def test_rebase_keeps_every_path_at_any_depth() -> None:
    api = {
        "public": "https://api.example.com/api/v3",
        "private": {"spot": "https://api.example.com/spot/v2", "swap": {"v1": "https://swap.example.com/swap/v1?x=1"}},
        "ws": None,
        "zendesk": "https://example.zendesk.com/api/v2/help",
    }
    assert rebase_urls(api, "http://127.0.0.1:9000") == {
        "public": "http://127.0.0.1:9000/api/v3",
        "private": {"spot": "http://127.0.0.1:9000/spot/v2", "swap": {"v1": "http://127.0.0.1:9000/swap/v1?x=1"}},
        "ws": None,
        "zendesk": "http://127.0.0.1:9000/api/v2/help",
    }
    assert rebase_urls("https://api.kraken.com", "http://proxy:8080/kraken/") == "http://proxy:8080/kraken"
    assert rebase_urls("https://api.binance.com/api/v3", "http://proxy:8080/b/") == "http://proxy:8080/b/api/v3"


async def test_binance_urls_are_all_rebased(binance: FakeBinance, market: CcxtMarket) -> None:
    api = market.exchange.urls["api"]
    assert len(api) >= 20 and all(url.startswith(binance.base_url + "/") for url in api.values())
    assert api["public"] == binance.base_url + "/api/v3"
    assert api["sapi"] == binance.base_url + "/sapi/v1"
    assert api["fapiPublic"] == binance.base_url + "/fapi/v1"


def test_an_unknown_exchange_id_is_refused() -> None:
    with pytest.raises(ValueError, match="no exchange 'nosuchexchange'"):
        CcxtMarket("nosuchexchange")


# ---- US equity sessions -----------------------------------------------------------------------------------


def et(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=ET)


def test_session_seconds_against_hand_computed_values() -> None:
    between = sessions.session_seconds_between
    assert between(et(2026, 11, 20, 15), et(2026, 11, 23, 10)) == 1.5 * H  # Fri 15:00 → Mon 10:00: 1 h + 0.5 h
    assert between(et(2026, 11, 25, 15), et(2026, 11, 27, 10)) == 1.5 * H  # over Thanksgiving (Thu closed)
    assert between(et(2026, 11, 23), et(2026, 11, 24)) == 6.5 * H  # one whole Monday
    assert between(et(2026, 11, 21), et(2026, 11, 23)) == 0  # a weekend
    assert between(et(2026, 11, 23, 12), et(2026, 11, 23, 11)) == 0  # backwards
    # Over the switch to daylight time (Sun 2026-03-08), in UTC: Fri 20:00Z = 15:00 EST, Mon 14:00Z = 10:00 EDT
    assert between(datetime(2026, 3, 6, 20, tzinfo=UTC), datetime(2026, 3, 9, 14, tzinfo=UTC)) == 1.5 * H
    with pytest.raises(ValueError):
        between(datetime(2026, 1, 5, 12), et(2026, 1, 6))


def test_is_open_and_last_close() -> None:
    assert sessions.is_open(et(2026, 11, 23, 9, 30))
    assert not sessions.is_open(et(2026, 11, 23, 9, 29))
    assert not sessions.is_open(et(2026, 11, 23, 16, 0))
    assert not sessions.is_open(et(2026, 11, 26, 12))  # Thanksgiving
    assert not sessions.is_open(et(2026, 4, 3, 12))  # Good Friday
    assert not sessions.is_open(et(2025, 1, 9, 12))  # day of mourning for President Carter
    assert not sessions.is_open(et(2026, 11, 21, 12))  # Saturday
    assert sessions.is_trading_day(date(2027, 12, 31))  # New Year's Day 2028 is a Saturday: not observed
    assert not sessions.is_trading_day(date(2027, 12, 24))  # Christmas 2027 observed on Friday
    last = sessions.last_session_close
    assert last(et(2026, 11, 22, 12)) == et(2026, 11, 20, 16)  # Sunday → Friday's close
    assert last(et(2026, 11, 27, 12)) == et(2026, 11, 25, 16)  # Friday after Thanksgiving, before its close
    assert last(et(2026, 11, 30, 9)) == et(2026, 11, 27, 16)
    assert last(et(2026, 1, 20, 17)) == et(2026, 1, 20, 16)
    assert last(et(2026, 1, 19, 12)) == et(2026, 1, 16, 16)  # Martin Luther King Jr. Day


# ---- Alpaca market data -----------------------------------------------------------------------------------


@pytest.fixture
async def alpaca_data() -> AsyncIterator[FakeAlpacaData]:
    async with FakeAlpacaData() as fake:
        yield fake


def alpaca(fake: FakeAlpacaData, at: datetime, *, key: str | None = None,
           policy: FetchPolicy = FAST) -> AlpacaMarket:
    return AlpacaMarket(key or fake.key, fake.secret, data_url=fake.base_url, feed="iex",
                        known_symbols=["AAPL", "GOOG", "SPY"], policy=policy, clock=lambda: at.timestamp())


def weekdays_until(last: date, count: int) -> list[date]:
    """`count` Monday–Friday dates ending at `last` (a plain loop; the fake does not know holidays)."""
    days: list[date] = []
    day = last
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def daily(days: list[date], prices: list[float]) -> list[StockBar]:
    return [StockBar(datetime(d.year, d.month, d.day, tzinfo=ET), p, p + 1, p - 1, p + 0.5, 1000 + i)
            for i, (d, p) in enumerate(zip(days, prices, strict=True))]


def hourly(days: list[date], start: float = 100.0) -> list[StockBar]:
    """Alpaca's hourly bars of the regular session: opens at 09:00 … 15:00 ET (the 09:00 bar holds 09:30+)."""
    bars: list[StockBar] = []
    for day in days:
        for hour in range(9, 16):
            p = round(start + len(bars) * 0.1, 2)
            bars.append(StockBar(datetime(day.year, day.month, day.day, hour, tzinfo=ET), p, p + 0.5, p - 0.5,
                                 p + 0.2, 500))
    return bars


async def test_alpaca_weekend_is_not_stale_and_says_the_market_is_closed(alpaca_data: FakeAlpacaData) -> None:
    days = weekdays_until(date(2026, 11, 20), 260)  # ends Friday 2026-11-20
    bars = daily(days, closes(260))
    alpaca_data.set_bars("AAPL", "1Day", bars, last_trade=190.12)
    market = alpaca(alpaca_data, et(2026, 11, 22, 12))  # Sunday noon
    try:
        candles = await market.fetch_ohlcv("AAPL", "1d", 200)
    finally:
        await market.close()
    assert candles.close.tolist() == [b.c for b in bars[-200:]]
    assert candles.timestamps.tolist() == [int(b.t.timestamp()) for b in bars[-200:]]
    assert candles.last_price == 190.12
    assert candles.session_note == "US market closed · last close Fri 2026-11-20 16:00 ET"
    assert candles.source == "Alpaca IEX feed · live" and not candles.demo and candles.price_decimals == 2
    query = alpaca_data.requests[-1][1] if alpaca_data.requests[-1][0].endswith("/bars") else alpaca_data.requests[0][1]
    assert {k: query[k] for k in ("timeframe", "adjustment", "feed", "sort")} == {
        "timeframe": "1Day", "adjustment": "raw", "feed": "iex", "sort": "asc"}
    assert all(h.get("APCA-API-KEY-ID") == alpaca_data.key for h in alpaca_data.seen_headers)


async def test_alpaca_hourly_over_a_weekend_and_into_monday(alpaca_data: FakeAlpacaData) -> None:
    bars = hourly(weekdays_until(date(2026, 11, 20), 40))  # the last bar opens Fri 15:00 ET, closes 16:00
    alpaca_data.set_bars("AAPL", "1Hour", bars)
    for at, fresh in ((et(2026, 11, 21, 12), True),  # Saturday: no session since Friday's close
                      (et(2026, 11, 23, 10), True),  # Monday 10:00: 0.5 h of session without a bar
                      (et(2026, 11, 23, 12, 30), False)):  # Monday 12:30: 3 h > two 1h bars
        market = alpaca(alpaca_data, at)
        try:
            if fresh:
                candles = await market.fetch_ohlcv("AAPL", "1h", 200)
                assert candles.close.tolist() == [b.c for b in bars[-200:]]
            else:
                with pytest.raises(StaleData, match="two 1h bars of trading session"):
                    await market.fetch_ohlcv("AAPL", "1h", 200)
        finally:
            await market.close()


async def test_alpaca_drops_the_forming_bar_during_the_session(alpaca_data: FakeAlpacaData) -> None:
    bars = hourly(weekdays_until(date(2026, 11, 23), 30))[:-4]  # Monday up to the 11:00 bar (forming at 11:30)
    alpaca_data.set_bars("AAPL", "1Hour", bars)
    days = weekdays_until(date(2026, 11, 23), 100)
    alpaca_data.set_bars("AAPL", "1Day", daily(days, closes(100)), last_trade=200.5)
    market = alpaca(alpaca_data, et(2026, 11, 23, 11, 30))
    try:
        hour = await market.fetch_ohlcv("AAPL", "1h", 60)
        day = await market.fetch_ohlcv("AAPL", "1d", 60)
    finally:
        await market.close()
    assert datetime.fromtimestamp(int(hour.timestamps[-1]), tz=ET) == et(2026, 11, 23, 10)  # the 11:00 bar forms
    assert hour.session_note is None  # the market is open
    assert datetime.fromtimestamp(int(day.timestamps[-1]), tz=ET) == et(2026, 11, 20)  # today's daily bar forms
    assert day.last_price == 200.5


async def test_alpaca_daily_bar_closes_at_the_session_close(alpaca_data: FakeAlpacaData) -> None:
    bars = daily(weekdays_until(date(2026, 11, 20), 100), closes(100))
    alpaca_data.set_bars("AAPL", "1Day", bars)
    market = alpaca(alpaca_data, et(2026, 11, 20, 17))  # Friday, an hour after the close
    try:
        candles = await market.fetch_ohlcv("AAPL", "1d", 60)
    finally:
        await market.close()
    assert datetime.fromtimestamp(int(candles.timestamps[-1]), tz=ET) == et(2026, 11, 20)  # today's bar is final
    assert candles.session_note == "US market closed · last close Fri 2026-11-20 16:00 ET"


@pytest.mark.parametrize(("last_day", "stale"), [(date(2026, 11, 18), False),  # Thu + Fri missing: two sessions
                                                 (date(2026, 11, 17), True)])  # Wed, Thu, Fri: three
async def test_alpaca_daily_is_stale_after_more_than_two_sessions(alpaca_data: FakeAlpacaData, last_day: date,
                                                                  stale: bool) -> None:
    alpaca_data.set_bars("AAPL", "1Day", daily(weekdays_until(last_day, 100), closes(100)))
    market = alpaca(alpaca_data, et(2026, 11, 20, 17))
    try:
        if stale:
            with pytest.raises(StaleData, match="two trading sessions"):
                await market.fetch_ohlcv("AAPL", "1d", 60)
        else:
            assert len(await market.fetch_ohlcv("AAPL", "1d", 60)) == 60
    finally:
        await market.close()


async def test_alpaca_pagination(alpaca_data: FakeAlpacaData) -> None:
    alpaca_data.page_size = 50
    bars = hourly(weekdays_until(date(2026, 11, 20), 40))
    alpaca_data.set_bars("AAPL", "1Hour", bars)
    market = alpaca(alpaca_data, et(2026, 11, 21, 12))
    try:
        candles = await market.fetch_ohlcv("AAPL", "1h", 200)
    finally:
        await market.close()
    assert candles.close.tolist() == [b.c for b in bars[-200:]]
    pages = [q for path, q in alpaca_data.requests if path.endswith("/bars")]
    assert len(pages) >= 5 and "page_token" not in pages[0] and all("page_token" in p for p in pages[1:])
    assert [p["page_token"] for p in pages[1:]] == [str(50 * i) for i in range(1, len(pages))]


async def test_alpaca_refused_key(alpaca_data: FakeAlpacaData) -> None:
    market = alpaca(alpaca_data, et(2026, 11, 23, 12), key="wrong-key")
    try:
        with pytest.raises(MarketUnavailable) as caught:
            await market.fetch_ohlcv("AAPL", "1h", 60)
        assert caught.value.auth
        message = str(caught.value)
        assert "Alpaca refused the API key (HTTP 401)" in message and "brokers.alpaca.key" in message
        assert "wrong-key" not in message and alpaca_data.secret not in message
        assert alpaca_data.count("/bars") == 1  # not retried
        alpaca_data.fail_next("/v2/stocks/AAPL/bars", 403, {"message": "forbidden"})
        with pytest.raises(MarketUnavailable, match=r"HTTP 403"):
            await market.fetch_ohlcv("AAPL", "1h", 60)
        assert market.status()["alpaca data (iex)"].startswith("degraded: Alpaca refused the API key")
    finally:
        await market.close()


async def test_alpaca_unknown_symbol(alpaca_data: FakeAlpacaData) -> None:
    market = alpaca(alpaca_data, et(2026, 11, 23, 12))
    try:
        with pytest.raises(UnknownSymbol) as caught:  # no bars and no latest trade
            await market.fetch_ohlcv("APPL", "1d", 60)
        assert caught.value.available[0] == "AAPL" and "\n" not in str(caught.value)
        alpaca_data.fail_next("/v2/stocks/GOOGL/bars", 422, {"code": 42210000, "message": "invalid symbol"})
        with pytest.raises(UnknownSymbol) as caught:
            await market.fetch_ohlcv("GOOGL", "1d", 60)
        assert "GOOG" in caught.value.available
        before = len(alpaca_data.requests)
        with pytest.raises(UnknownSymbol):
            await market.fetch_ohlcv("BTC/USDT", "1d", 60)  # never sent: not a stock symbol
        assert len(alpaca_data.requests) == before
        with pytest.raises(UnknownTimeframe):
            await market.fetch_ohlcv("AAPL", "5m", 60)
    finally:
        await market.close()


async def test_alpaca_429_then_success(alpaca_data: FakeAlpacaData) -> None:
    bars = daily(weekdays_until(date(2026, 11, 20), 100), closes(100))
    alpaca_data.set_bars("AAPL", "1Day", bars)
    alpaca_data.fail_next("/v2/stocks/AAPL/bars", 429, {"message": "too many requests."}, {"Retry-After": "0.4"})
    market = alpaca(alpaca_data, et(2026, 11, 22, 12))
    try:
        start = time.perf_counter()
        candles = await market.fetch_ohlcv("AAPL", "1d", 60)
        assert time.perf_counter() - start >= 0.4
    finally:
        await market.close()
    assert candles.close.tolist() == [b.c for b in bars[-60:]]
    assert alpaca_data.count("/bars") == 2


async def test_alpaca_persistent_500_and_timeout(alpaca_data: FakeAlpacaData) -> None:
    alpaca_data.set_bars("AAPL", "1Day", daily(weekdays_until(date(2026, 11, 20), 100), closes(100)))
    alpaca_data.fail_next("/v2/stocks/AAPL/bars", 500, {"message": "internal server error"}, times=FAST.attempts + 2)
    market = alpaca(alpaca_data, et(2026, 11, 22, 12))
    try:
        with pytest.raises(MarketUnavailable) as caught:
            await market.fetch_ohlcv("AAPL", "1d", 60)
        assert "HTTP 500" in str(caught.value) and f"after {FAST.attempts} tries" in str(caught.value)
        assert alpaca_data.count("/bars") == FAST.attempts
    finally:
        await market.close()
    alpaca_data.faults.clear()
    policy = FetchPolicy(attempts=2, timeout=0.2, initial=0.01, maximum=0.01, jitter=0.0, budget=5.0)
    alpaca_data.hang_next("/v2/stocks/AAPL/bars", 2.0, times=2)
    market = alpaca(alpaca_data, et(2026, 11, 22, 12), policy=policy)
    try:
        start = time.perf_counter()
        with pytest.raises(MarketUnavailable, match="timed out"):
            await market.fetch_ohlcv("AAPL", "1d", 60)
        assert time.perf_counter() - start < 1.5
    finally:
        await market.close()


async def test_alpaca_malformed_answers(alpaca_data: FakeAlpacaData) -> None:
    market = alpaca(alpaca_data, et(2026, 11, 22, 12))
    try:
        alpaca_data.fail_next("/v2/stocks/AAPL/bars", 200, "<html>not json</html>")
        with pytest.raises(MarketUnavailable, match="malformed answer"):
            await market.fetch_ohlcv("AAPL", "1d", 60)
        bad = daily(weekdays_until(date(2026, 11, 20), 70), closes(70))
        bad[-3] = StockBar(bad[-3].t, 100.0, 99.0, 98.0, 99.5, 10)  # high below the open
        alpaca_data.set_bars("AAPL", "1Day", bad)
        with pytest.raises(MarketUnavailable, match="low–high range"):
            await market.fetch_ohlcv("AAPL", "1d", 60)
    finally:
        await market.close()


async def test_alpaca_last_price(alpaca_data: FakeAlpacaData) -> None:
    alpaca_data.trades.update({"AAPL": 190.125, "PENNY": 0.51237})
    market = alpaca(alpaca_data, et(2026, 11, 23, 12))
    try:
        assert await market.last_price("aapl") == Decimal("190.12")  # half-even at $0.01
        assert await market.last_price("PENNY") == Decimal("0.5124")  # $0.0001 below $1
    finally:
        await market.close()


# ---- RoutedMarket -----------------------------------------------------------------------------------------


class Recording:
    """A stand-in source that records what it was asked (routing is the code under test here)."""

    demo = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.asked: list[str] = []
        self.closed = False

    def symbols(self) -> list[str]:
        return [f"{self.name}-SYM"]

    def timeframes(self, symbol: str) -> list[str]:
        self.asked.append(symbol)
        return ["1h"]

    async def fetch_ohlcv(self, symbol: str, timeframe: str, bars: int) -> Candles:
        self.asked.append(symbol)
        raise NoData(f"{self.name} was asked")

    async def last_price(self, symbol: str) -> Decimal:
        self.asked.append(symbol)
        return Decimal(1)

    async def as_of(self, symbol: str) -> datetime | None:
        return None

    def status(self) -> dict[str, str]:
        return {self.name: "ok"}

    async def close(self) -> None:
        self.closed = True


async def test_router_sends_pairs_to_ccxt_and_the_rest_to_alpaca_with_overrides() -> None:
    crypto, stocks = Recording("ccxt"), Recording("alpaca")
    routed = RoutedMarket(crypto, stocks, {"paxg/usd": "alpaca", "GLD": "ccxt"})
    for symbol in ("BTC/USDT", "AAPL", "PAXG/USD", "GLD", "spy"):
        await routed.last_price(symbol)
    assert crypto.asked == ["BTC/USDT", "GLD"]
    assert stocks.asked == ["AAPL", "PAXG/USD", "spy"]
    assert (routed.name, routed.demo, await routed.as_of("AAPL")) == ("live", False, None)
    assert routed.status() == {"ccxt": "ok", "alpaca": "ok"}
    assert routed.symbols() == ["ccxt-SYM", "alpaca-SYM"]
    await routed.close()
    assert crypto.closed and stocks.closed


async def test_router_without_alpaca_says_what_to_configure() -> None:
    routed = RoutedMarket(Recording("ccxt"), None, {})
    with pytest.raises(MarketUnavailable) as caught:
        await routed.fetch_ohlcv("AAPL", "1h", 60)
    assert "brokers.alpaca.key" in str(caught.value) and "\n" not in str(caught.value)
    assert "not configured" in routed.status()["stocks"]
    with pytest.raises(ValueError, match="unknown source"):
        RoutedMarket(None, None, {"X": "yahoo"})


async def test_router_over_the_real_sources(binance: FakeBinance, alpaca_data: FakeAlpacaData, now: float) -> None:
    binance.set_candles("BTCUSDT", H, closes(100), now=now)
    bars = daily(weekdays_until(date(2026, 11, 20), 100), closes(100, 50))
    alpaca_data.set_bars("AAPL", "1Day", bars)
    routed = RoutedMarket(ccxt_market(binance, now),
                          alpaca(alpaca_data, et(2026, 11, 22, 12)), {})
    try:
        crypto = await routed.fetch_ohlcv("BTC/USDT", "1h", 60)
        stock = await routed.fetch_ohlcv("AAPL", "1d", 60)
    finally:
        await routed.close()
    assert "Binance" in crypto.source and stock.source == "Alpaca IEX feed · live"
    assert stock.close.tolist() == [b.c for b in bars[-60:]]
    assert set(routed.status()) == {"ccxt binance", "alpaca data (iex)"}


# ---- bars since a time (exit checks of the position monitor) -----------------------------------------------


def minute_bars(first_open: int, count: int, start: float = 150.0) -> list[Kline]:
    """1m klines with two-decimal prices, high 0.3 above and low 0.2 below the body (plain arithmetic)."""
    out = []
    for i in range(count):
        o, c = round(start + (i % 7) * 0.11, 2), round(start + (i % 5) * 0.13, 2)
        out.append(Kline(first_open + 60 * i, o, round(max(o, c) + 0.3, 2), round(min(o, c) - 0.2, 2), c, 1.0))
    return out


async def test_ccxt_bars_since_are_1m_klines_from_that_time_with_the_forming_one(
        binance: FakeBinance, market: CcxtMarket, now: float) -> None:
    bucket = int(now) // 60 * 60
    served = minute_bars(bucket - 30 * 60, 31)  # the last one opened this minute: still forming
    binance.set_bars("BTCUSDT", 60, served)
    since = datetime.fromtimestamp(bucket - 5 * 60, tz=UTC)
    got = await market.bars_since("btc/usdt", since)
    want = served[-6:]
    assert got.timestamps.tolist() == [b.open_time for b in want]
    assert got.high.tolist() == [b.high for b in want] and got.low.tolist() == [b.low for b in want]
    assert got.open.tolist() == [b.open for b in want] and got.close.tolist() == [b.close for b in want]
    assert (got.timeframe, got.forming, got.symbol, got.price_decimals) == ("1m", True, "BTC/USDT", 2)
    query = klines(binance)[-1]
    assert query["interval"] == "1m" and int(query["startTime"]) == (bucket - 300) * 1000
    # a since between two opens starts at the next minute
    got = await market.bars_since("BTC/USDT", since + timedelta(seconds=1))
    assert got.timestamps[0] == bucket - 240


async def test_ccxt_bars_since_walks_pages(binance: FakeBinance, now: float) -> None:
    bucket = int(now) // 60 * 60
    served = minute_bars(bucket - 1500 * 60, 1500)  # the last closed a moment ago: none forming
    binance.set_bars("BTCUSDT", 60, served)
    m = ccxt_market(binance, now)
    try:
        got = await m.bars_since("BTC/USDT", datetime.fromtimestamp(bucket - 1500 * 60, tz=UTC))
    finally:
        await m.close()
    assert got.timestamps.tolist() == [b.open_time for b in served] and not got.forming
    assert len(klines(binance)) == 2  # Binance gives at most 1,000 klines a request


async def test_alpaca_bars_since_are_1min_bars(alpaca_data: FakeAlpacaData) -> None:
    at = et(2026, 11, 23, 11, 30) + timedelta(seconds=20)  # Monday, in the session
    first = et(2026, 11, 23, 11, 20)
    bars = [StockBar(first + timedelta(minutes=i), 190 + i / 10, 190.5 + i / 10, 189.75 + i / 10, 190.25 + i / 10,
                     100) for i in range(11)]  # 11:20 … 11:30, the 11:30 bar still forming
    alpaca_data.set_bars("AAPL", "1Min", bars)
    market = alpaca(alpaca_data, at)
    try:
        got = await market.bars_since("aapl", et(2026, 11, 23, 11, 25))
    finally:
        await market.close()
    want = bars[5:]
    assert got.timestamps.tolist() == [int(b.t.timestamp()) for b in want]
    assert got.high.tolist() == [b.h for b in want] and got.low.tolist() == [b.l for b in want]
    assert (got.timeframe, got.forming, got.symbol) == ("1m", True, "AAPL")
    query = alpaca_data.requests[-1][1]
    assert query["timeframe"] == "1Min" and query["start"] == "2026-11-23T16:25:00Z"


async def test_router_routes_bars_since(binance: FakeBinance, now: float) -> None:
    bucket = int(now) // 60 * 60
    binance.set_bars("BTCUSDT", 60, minute_bars(bucket - 600, 11))
    routed = RoutedMarket(ccxt_market(binance, now), None, {})
    try:
        got = await routed.bars_since("BTC/USDT", datetime.fromtimestamp(bucket - 120, tz=UTC))
        assert got.timestamps.tolist() == [bucket - 120, bucket - 60, bucket]
        with pytest.raises(MarketUnavailable):
            await routed.bars_since("AAPL", datetime.fromtimestamp(bucket, tz=UTC))
    finally:
        await routed.close()


def test_source_health_lines_follow_the_last_answer() -> None:
    from engine.fetching import SourceHealth

    now = [1_764_590_400.0]  # 2025-12-01 12:00:00 UTC
    health = SourceHealth(lambda: now[0])
    assert health.line("idle · nothing asked") == "idle · nothing asked"
    health.succeeded()
    assert health.line("idle", "3 markets · ") == "ok · 3 markets · last answer 12:00:00 UTC"
    now[0] += 90
    health.failed("timed out after 10 s")
    now[0] += 600
    health.failed("server error (HTTP 503)")  # still degraded since the first failure
    assert health.line("idle") == "degraded: server error (HTTP 503) (since 12:01 UTC)"
    health.succeeded()
    assert health.line("idle") == "ok · last answer 12:11:30 UTC"
