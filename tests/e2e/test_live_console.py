"""`printf '/signal BTC/USDT 1h\\n' | tipster demo` on LIVE sources, exactly as a user drives it (issue 8).

The real `tipster` process runs with the issue's environment variables, pointed at local servers that speak
Binance's public REST API, RSS and Reddit's listing JSON. Whatever the servers do, the output is a card or one
clear line — never a traceback, never the word DEMO.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.fake_exchange import FakeBinance
from tests.support.fake_news import FakeNews

ROOT = Path(__file__).resolve().parents[2]
CANDLES = ROOT / "engine" / "market" / "data" / "BTC_USDT-1h.csv.gz"
HOUR = 3600

pytestmark = pytest.mark.slow


@dataclass
class Servers:
    exchange: FakeBinance
    news: FakeNews


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    exchange = FakeBinance()
    await exchange.start()
    exchange.add_market("BTCUSDT", "BTC", "USDT")
    news = FakeNews()
    await news.start()
    try:
        yield Servers(exchange, news)
    finally:
        await news.close()
        await exchange.stop()


async def run_demo(tmp_path: Path, servers: Servers, stdin: str, *, subreddits: str = "{}",
                   model: str = "offline", extra_env: dict[str, str] | None = None) -> tuple[str, str, int]:
    feed = servers.news.feed("c1", [("Bitcoin ETF inflows hit a record as institutions buy",
                                     timedelta(hours=2, minutes=30)),
                                    ("Bitcoin miners report strong profit growth", timedelta(hours=5)),
                                    ("Crypto lender files for bankruptcy after losses", timedelta(hours=30)),
                                    ("Old news: bitcoin slumps", timedelta(hours=60))], title="Coin Feed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPSTER_")}
    env.update({
        "TIPSTER_MARKET__SOURCE": "live",
        "TIPSTER_MARKET__EXCHANGE": "binance",
        "TIPSTER_MARKET__EXCHANGE_API_URL": servers.exchange.base_url,
        "TIPSTER_SENTIMENT__RSS_FEEDS": json.dumps({"crypto": [feed]}),
        "TIPSTER_SENTIMENT__SUBREDDITS": subreddits,
        "TIPSTER_SENTIMENT__REDDIT_URL": servers.news.base_url,
        "TIPSTER_SENTIMENT__MODEL": model,
        **(extra_env or {}),
    })
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "demo", "--db", str(tmp_path / "t.sqlite"), "--log", str(tmp_path / "log"),
        cwd=ROOT, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout=120)
    return out.decode(), err.decode(), proc.returncode or 0


def assert_clean(out: str, err: str) -> None:
    assert "Traceback" not in out and "Traceback" not in err, out + err
    assert "DEMO" not in out, out


async def test_a_live_tip_from_the_exchange_and_the_news(tmp_path: Path, servers: Servers) -> None:
    bars = servers.exchange.set_candles_from_csv("BTCUSDT", HOUR, CANDLES, count=300)
    out, err, code = await run_demo(tmp_path, servers, "/signal BTC/USDT 1h\n")
    assert code == 0, err
    assert_clean(out, err)
    forming, last_closed = bars[-1], bars[-2]
    assert f"price {forming.close:,.2f}" in out  # the live last price, not the closed bar's close
    assert f"close {last_closed.close:,.2f}" in out  # ...which the data line names with the bar it used
    assert "RSI " in out
    assert "Reasoning: Technical: " in out and ", Sentiment: " in out and ", Fused: " in out
    data_line = next(line for line in out.splitlines() if line.startswith("Data:"))
    assert "Binance" in data_line and "live" in data_line
    # Three texts fall inside the 48 h window; the 60 h old one does not.
    assert "over 3 texts from Coin Feed" in out and "newest 2 h old" in out
    assert "stale" not in out.lower()


async def test_reddit_refusing_leaves_rss_alone(tmp_path: Path, servers: Servers) -> None:
    servers.exchange.set_candles_from_csv("BTCUSDT", HOUR, CANDLES, count=300)
    servers.news.fail("/r/CryptoCurrency/new.json", 403)
    out, err, code = await run_demo(tmp_path, servers, "/signal BTC/USDT 1h\n",
                                    subreddits='{"crypto": ["CryptoCurrency"]}')
    assert code == 0, err
    assert_clean(out, err)
    sentiment = next(line for line in out.splitlines() if line.startswith("Sentiment:"))
    assert "over 3 texts" in sentiment and "from RSS alone" in sentiment and "Reddit" in sentiment


async def test_stale_candles_give_a_stale_reply_with_retry(tmp_path: Path, servers: Servers) -> None:
    servers.exchange.set_candles("BTCUSDT", HOUR, [100.0 + i % 5 for i in range(250)], stale_bars=5)
    out, err, code = await run_demo(tmp_path, servers, "/signal BTC/USDT 1h\n")
    assert code == 0, err
    assert_clean(out, err)
    assert "Stale data" in out and "Retry" in out
    assert "Reasoning:" not in out  # no tip is presented on old prices


async def test_a_failing_exchange_is_one_line(tmp_path: Path, servers: Servers) -> None:
    servers.exchange.set_candles_from_csv("BTCUSDT", HOUR, CANDLES, count=300)
    for _ in range(20):
        servers.exchange.unavailable_next("GET", "/api/v3/klines")
    out, err, code = await run_demo(tmp_path, servers, "/signal BTC/USDT 1h\n")
    assert code == 0, err
    assert_clean(out, err)
    assert "Reasoning:" not in out
    assert any("Binance" in line and ("unavailable" in line or "server error" in line) for line in out.splitlines())


async def test_news_down_still_gives_a_tip_with_sentiment_zero(tmp_path: Path, servers: Servers) -> None:
    servers.exchange.set_candles_from_csv("BTCUSDT", HOUR, CANDLES, count=300)
    servers.news.fail("/rss/c1", 500)
    out, err, code = await run_demo(tmp_path, servers, "/signal BTC/USDT 1h\n")
    assert code == 0, err
    assert_clean(out, err)
    assert "Sentiment: 0.00" in out
    assert "Sentiment: unavailable" in out and "counted as 0.00" in out


async def test_finbert_weights_are_used_when_asked(tmp_path: Path, servers: Servers) -> None:
    from tests.engine.test_finbert import _build

    weights = tmp_path / "finbert"
    _build(weights)
    servers.exchange.set_candles_from_csv("BTCUSDT", HOUR, CANDLES, count=300)
    out, err, code = await run_demo(tmp_path, servers, "/signal BTC/USDT 1h\n", model="finbert",
                                    extra_env={"TIPSTER_SENTIMENT__FINBERT_PATH": str(weights),
                                               "HF_HUB_OFFLINE": "1"})
    assert code == 0, err
    assert_clean(out, err)
    assert "Sentiment: finbert over 3 texts" in out


async def test_finbert_without_weights_stops_start_up_with_one_line(tmp_path: Path, servers: Servers) -> None:
    _, err, code = await run_demo(tmp_path, servers, "/signal BTC/USDT 1h\n", model="finbert",
                                    extra_env={"TIPSTER_SENTIMENT__FINBERT_PATH": str(tmp_path / "none")})
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "finbert" in err.lower()
