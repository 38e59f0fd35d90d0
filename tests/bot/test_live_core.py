"""The core in `market.source: live` against local servers speaking Binance, Alpaca data, RSS and Reddit.

What a Telegram user would meet, short of the adapter: /signal, /market, /health, paper fills at the live
price, a refused Alpaca key (admins told once), stocks without keys, and no DEMO anywhere.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.app import open_core
from bot.core.context import ChatContext
from bot.core.service import TipsterCore
from bot.settings import Settings, load_settings
from storage.alerts import AlertRepository
from tests.bot.test_core_signals import button_data, texts
from tests.conftest import ROOT, user_ctx
from tests.support.fake_alpaca_data import FakeAlpacaData, StockBar
from tests.support.fake_exchange import FakeBinance
from tests.support.fake_news import FakeNews

CANDLES = ROOT / "engine" / "market" / "data" / "BTC_USDT-1h.csv.gz"
ADMIN = ChatContext(platform="console", user_id="boss", chat_id="boss")


@dataclass
class Live:
    core: TipsterCore
    exchange: FakeBinance
    alpaca: FakeAlpacaData
    news: FakeNews


async def _servers() -> tuple[FakeBinance, FakeAlpacaData, FakeNews]:
    exchange = FakeBinance()
    await exchange.start()
    exchange.add_market("BTCUSDT", "BTC", "USDT")
    exchange.add_market("ETHUSDT", "ETH", "USDT")
    alpaca = FakeAlpacaData()
    await alpaca.start()
    news = FakeNews()
    await news.start()
    return exchange, alpaca, news


def live_settings(tmp_path: Path, exchange: FakeBinance, alpaca: FakeAlpacaData, news: FakeNews, *,
                  alpaca_key: str | None = "data-key") -> Settings:
    feed = news.feed("c1", [("Bitcoin rallies as ETF demand surges", timedelta(hours=1)),
                            ("Ethereum upgrade boosts network fees", timedelta(hours=3))], title="Coin Feed")
    return load_settings(
        ROOT / "config.yaml",
        admins=["console:boss"],
        storage={"sqlite_path": str(tmp_path / "live.sqlite")},
        market={"source": "live", "exchange": "binance", "exchange_api_url": exchange.base_url,
                "alpaca_data_url": alpaca.base_url, "symbols": ["BTC/USDT", "ETH/USDT", "AAPL"]},
        brokers={"alpaca": {"key": alpaca_key, "secret": "data-secret" if alpaca_key else None,
                            "base_url": "http://127.0.0.1:9"}},
        sentiment={"model": "offline", "rss_feeds": {"crypto": [feed]}, "subreddits": {"crypto": ["Bitcoin"]},
                   "reddit_url": news.base_url},
    )


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    exchange, alpaca, news = await _servers()
    try:
        async with open_core(live_settings(tmp_path, exchange, alpaca, news)) as core:
            yield Live(core, exchange, alpaca, news)
    finally:
        await news.close()
        await alpaca.stop()
        await exchange.stop()


def daily_bars(days: int, now: datetime) -> list[StockBar]:
    """Weekday daily bars ending with the last session that has closed before `now` (16:00 ET ~ 21:00 UTC)."""
    out: list[StockBar] = []
    day = now.date()
    while len(out) < days:
        close_utc = datetime(day.year, day.month, day.day, 21, tzinfo=UTC)
        if day.weekday() < 5 and close_utc < now - timedelta(hours=1):
            price = 150.0 + (len(out) % 9)
            out.append(StockBar(datetime(day.year, day.month, day.day, 5, tzinfo=UTC), price, price + 1,
                                price - 1, price + 0.5, 1e6))
        day -= timedelta(days=1)
    return out[::-1]


async def test_live_signal_market_and_health_never_say_demo(live: Live) -> None:
    core = live.core
    bars = live.exchange.set_candles_from_csv("BTCUSDT", 3600, CANDLES, count=300)
    live.exchange.set_candles("ETHUSDT", 3600, [2000 + (i % 11) * 3 for i in range(250)])
    live.news.posts("Bitcoin", [("Bitcoin to the moon, says analyst", timedelta(minutes=30))])
    card = (await core.handle_text(user_ctx(), "/signal BTC/USDT 1h"))[0]
    assert "DEMO" not in (card.title or "") + card.text
    assert f"price {bars[-1].close:,.2f}" in card.text
    assert "over 3 texts from r/Bitcoin, Coin Feed" in card.text
    assert re.search(r"newest (29|30) min old", card.text)  # the post is 30 min old, to the second

    overview = (await core.handle_text(user_ctx(), "/market"))[0]
    assert "DEMO" not in (overview.title or "") + overview.text
    btc = next(line for line in overview.text.splitlines() if line.startswith("BTC/USDT "))
    # 24 h change: the live price against the close of the bar that closed 24 h before the last closed one.
    closed = bars[:-1]
    reference = closed[-25].close
    assert f"24h {(bars[-1].close / reference - 1) * 100:+.2f}%" in btc and "last tip #1" in btc
    assert any(line.startswith("AAPL:") for line in overview.text.splitlines())  # no bars: one line

    await core.ensure_user(ADMIN)
    health = texts(await core.handle_text(ADMIN, "/health"))
    assert "DEMO" not in health
    assert "ccxt binance" in health.lower() and "RSS: ok" in health and "Reddit: ok" in health


async def test_paper_fills_at_the_live_price(live: Live) -> None:
    core = live.core
    live.exchange.set_candles_from_csv("BTCUSDT", 3600, CANDLES, count=300)
    live.exchange.prices["BTCUSDT"] = Decimal("61234.50")
    confirm = (await core.handle_text(user_ctx(), "/open BTC/USDT long 500 sl=50000 tp=70000"))[0]
    done = texts(await core.handle_button(user_ctx(), button_data(confirm, "Confirm")))
    assert "opened" in done
    position = await core.trading.repo.get(1)
    slippage = Decimal(str(core.settings.paper.slippage_pct)) / 100
    assert position.entry_price == (Decimal("61234.50") * (1 + slippage)).quantize(Decimal("0.01"))


async def test_a_refused_alpaca_key_alerts_admins_once(tmp_path: Path) -> None:
    exchange, alpaca, news = await _servers()
    try:
        settings = live_settings(tmp_path, exchange, alpaca, news, alpaca_key="wrong-key")
        async with open_core(settings) as core:
            await core.ensure_user(ADMIN)
            for _ in range(3):
                out = texts(await core.handle_text(user_ctx(), "/signal AAPL 1d"))
                assert "Alpaca refused the API key" in out and "brokers.alpaca" in out
            alerts = [a for a in await AlertRepository(core.storage.db).for_chat("console", "boss")
                      if a.kind == "admin_alert"]
            assert len(alerts) == 1
    finally:
        await news.close()
        await alpaca.stop()
        await exchange.stop()


async def test_stocks_without_alpaca_keys_get_one_line(tmp_path: Path) -> None:
    exchange, alpaca, news = await _servers()
    try:
        async with open_core(live_settings(tmp_path, exchange, alpaca, news, alpaca_key=None)) as core:
            out = texts(await core.handle_text(user_ctx(), "/signal AAPL 1d"))
            assert "brokers.alpaca" in out and len(out.splitlines()) <= 3
    finally:
        await news.close()
        await alpaca.stop()
        await exchange.stop()


async def test_a_weekend_stock_tip_says_the_market_is_closed(live: Live) -> None:
    now = datetime.now(UTC)
    live.alpaca.set_bars("AAPL", "1Day", daily_bars(120, now))
    out = (await live.core.handle_text(user_ctx(), "/signal AAPL 1d"))[0]
    assert "Reasoning: Technical" in out.text and "Stale" not in out.text
    is_session = now.weekday() < 5 and 14 * 60 + 30 <= now.hour * 60 + now.minute < 21 * 60
    if not is_session:
        assert "market closed" in out.text.lower()


async def test_reddit_down_shows_as_degraded_and_the_tip_still_comes(live: Live) -> None:
    core = live.core
    live.exchange.set_candles_from_csv("BTCUSDT", 3600, CANDLES, count=300)
    live.news.fail("/r/Bitcoin/new.json", 429, headers={"Retry-After": "0"})
    card = (await core.handle_text(user_ctx(), "/signal BTC/USDT 1h"))[0]
    sentiment = next(line for line in card.text.splitlines() if line.startswith("Sentiment:"))
    assert "over 2 texts" in sentiment and "from RSS alone" in sentiment and "Reddit" in sentiment
    await core.ensure_user(ADMIN)
    health = texts(await core.handle_text(ADMIN, "/health"))
    assert "Reddit: degraded since" in health
