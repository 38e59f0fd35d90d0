"""The watchlist scan and the daily summary, on real SQLite and the bundled replay market."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import open_core
from bot.core.context import ChatContext
from bot.core.jobs.scan import WatchlistScanner
from bot.core.jobs.summary import DailySummary, SummaryScope
from bot.core.service import TipsterCore
from bot.settings import Settings
from storage.alerts import AlertRepository
from storage.db import to_db_time
from tests.bot.test_core_signals import texts
from tests.conftest import user_ctx

GROUP = ChatContext(platform="console", user_id="1", chat_id="-100", chat_type="group", username="user1")


@pytest.fixture
async def score(settings: Settings) -> AsyncIterator[TipsterCore]:
    """A core whose scan pushes whatever is not HOLD, on a replay clock that moves only when told to."""
    s = settings.model_copy(update={
        "scan": settings.scan.model_copy(update={"min_confidence": 0.0}),
        "cache": settings.cache.model_copy(update={"market_ttl": 0}),
        # Thresholds around zero: every tip is BUY or SELL, so the scan has something to push.
        "scoring": settings.scoring.model_copy(update={"buy_threshold": 0.0, "sell_threshold": -1e-9}),
        "market": settings.market.model_copy(update={"replay": settings.market.replay.model_copy(
            update={"speed": 1e-9})}),
    })
    async with open_core(s) as core:
        yield core


def replay(core: TipsterCore):
    return core.services.market.inner


async def scan_alerts(core: TipsterCore, chat_id: str) -> list:
    return [a for a in await AlertRepository(core.storage.db).for_chat("console", chat_id) if a.kind == "scan"]


async def test_scan_pushes_once_per_bar_to_every_watching_chat(score: TipsterCore):
    core = score
    await core.handle_text(user_ctx(1), "/watch BTC/USDT 1h")
    await core.handle_text(user_ctx(2), "/watch btc/usdt 1h")
    await core.handle_text(user_ctx(2), "/watch SPY 1d")
    scanner = WatchlistScanner(core)

    first = await scanner.run()
    assert (first.scanned, first.pushed, first.errors) == (2, 3, 0)  # BTC/USDT 1h computed once for both chats
    [alert] = await scan_alerts(core, "1")
    assert alert.payload["title"].startswith("👁 Watchlist: ") and "BTC/USDT · 1h" in alert.payload["title"]
    labels = [b["label"] for row in alert.payload["buttons"] for b in row]
    # A pushed BUY/SELL tip offers its owner (a trader) to open a position from it.
    assert labels == ["🔄 Refresh", "📜 History", "✖ Dismiss", "💰 Open position", "👁 Watch", "📰 News",
                      "📈 Chart"]
    assert "Not financial advice" in alert.payload["text"]
    # The card's record line, as a fresh /signal card has it, and kept with the tip for later redraws.
    assert re.search(r"Past 30 days on BTC/USDT 1h: no (BUY|SELL) tips", alert.payload["text"])
    # Each pushed tip is stored for the user who added the watch, in the watching chat.
    rows = await core.storage.db.fetchall("SELECT user_id, chat_id, symbol FROM signals ORDER BY id")
    owners = {(r["chat_id"], r["symbol"]): r["user_id"] for r in rows}
    u1 = (await core.storage.users.by_identity("console:1")).id
    u2 = (await core.storage.users.by_identity("console:2")).id
    assert owners == {("1", "BTC/USDT"): u1, ("2", "BTC/USDT"): u2, ("2", "SPY"): u2}
    watch = (await core.storage.watches.for_chat("console", "1"))[0]
    assert watch.last_pushed_rec in ("BUY", "SELL") and watch.last_pushed_bar is not None

    # Same bar, same recommendation: nothing new, no new tip stored.
    again = await scanner.run()
    assert (again.scanned, again.pushed) == (2, 0)
    assert len(await scan_alerts(core, "1")) == 1 and len(rows) == 3
    assert await core.storage.db.scalar("SELECT COUNT(*) FROM signals") == 3

    # The replay clock moves on a bar: the 1h market is news again, the daily one is not.
    replay(core).advance(3600)
    later = await scanner.run()
    assert later.pushed == 2
    assert len(await scan_alerts(core, "1")) == 2 and len(await scan_alerts(core, "2")) == 3

    runs = await core.storage.job_runs.recent("scan")
    assert [(r.monitored, r.changed, r.errors) for r in runs] == [(2, 2, 0), (2, 0, 0), (2, 3, 0)]


async def test_scan_skips_blocked_chats_failing_markets_and_weak_tips(score: TipsterCore):
    core = score
    await core.handle_text(user_ctx(1), "/watch BTC/USDT 1h")
    await core.handle_text(user_ctx(2), "/watch BTC/USDT 1h")
    # A market the data source cannot serve (e.g. delisted since it was watched) fails alone.
    user = await core.storage.users.by_identity("console:1")
    await core.storage.watches.add("console", "1", user.id, "DOGE/USDT", "1h")
    await core.storage.chats.mark_blocked("console", "2", "bot was blocked by the user")

    result = await WatchlistScanner(core).run()
    assert (result.scanned, result.pushed, result.errors) == (1, 1, 1)
    assert result.failed == ["DOGE/USDT 1h"]
    assert len(await scan_alerts(core, "1")) == 1
    assert await scan_alerts(core, "2") == []
    assert await core.storage.db.scalar("SELECT COUNT(*) FROM signals WHERE chat_id = '2'") == 0

    # Confidence below scan.min_confidence is not pushed.
    core.services.settings = core.settings.model_copy(update={"scan": core.settings.scan.model_copy(
        update={"min_confidence": 1.0})})
    replay(core).advance(3600)
    weak = await WatchlistScanner(core).run()
    assert (weak.scanned, weak.pushed) == (1, 0)
    assert len(await scan_alerts(core, "1")) == 1


async def test_scan_is_silent_for_a_disabled_owner(score: TipsterCore):
    core = score
    await core.handle_text(user_ctx(1), "/watch ETH/USDT 4h")
    user = await core.storage.users.by_identity("console:1")
    await core.storage.user_admin.set_access(user.id, state="disabled")
    result = await WatchlistScanner(core).run()
    assert (result.scanned, result.pushed) == (1, 0)
    assert await scan_alerts(core, "1") == []


# ---- the daily summary ----------------------------------------------------------------------------------

DAY = datetime(2030, 6, 10, tzinfo=UTC)  # summer: Berlin is UTC+2, Tokyo UTC+9


def at(hours: float, days: int = 0) -> datetime:
    return DAY + timedelta(days=days, hours=hours)


async def summaries(core: TipsterCore, chat_id: str) -> list:
    return [a for a in await AlertRepository(core.storage.db).for_chat("console", chat_id) if a.kind == "summary"]


async def backdate_tips(core: TipsterCore, when: datetime) -> None:
    """Tips are stamped with the wall clock; move them to the injected day."""
    await core.storage.db.execute("UPDATE signals SET created_at = ?", (to_db_time(when),))


async def test_summary_once_a_day_at_each_chats_time_in_its_timezone(core: TipsterCore):
    # A private chat in Berlin with a tip (default time 21:00), a group in Tokyo following everything,
    # a private chat that opted out, and a private chat with a tip but at 07:30 local (UTC).
    await core.handle_text(user_ctx(1), "/settings tz=Europe/Berlin")
    await core.handle_text(user_ctx(1), "/signal BTC/USDT 1h")

    async def yes(ctx: ChatContext) -> bool:
        return True

    core.chat_admin_checks["console"] = yes
    await core.handle_text(GROUP, "/subscribe")
    await core.handle_text(GROUP, "/watch ETH/USDT 4h")
    await core.handle_text(GROUP, "/settings tz=Asia/Tokyo")
    await core.handle_text(user_ctx(3), "/signal SPY 1d")
    await core.handle_text(user_ctx(3), "/settings summary=off")
    await core.handle_text(user_ctx(4), "/signal AAPL 1d")
    await core.handle_text(user_ctx(4), "/settings summary=07:30")
    await backdate_tips(core, at(6))
    # A status change of the Berlin tip during the day.
    await core.storage.db.execute(
        "INSERT INTO signal_history(signal_id, event, description, data_json, created_at)"
        " VALUES (1, 'status_changed', 'Status changed: BUY → HOLD', ?, ?)",
        (json.dumps({"old": "BUY", "new": "HOLD"}), to_db_time(at(9))))
    summary = DailySummary(core)

    assert await summary.run(at(5)) == 0  # 07:00 Berlin, 14:00 Tokyo, 05:00 UTC
    assert await summary.run(at(7.5)) == 1  # 07:30 UTC: user 4
    assert await summary.run(at(11.99)) == 0  # Tokyo 20:59
    assert await summary.run(at(12)) == 1  # Tokyo 21:00
    assert await summary.run(at(12.5)) == 0
    assert await summary.run(at(19)) == 1  # Berlin 21:00 (Tokyo is already on the next day, 04:00)
    assert await summary.run(at(19.02)) == 0
    # A restart (a new job object) on the same day queues nothing again.
    assert await DailySummary(core).run(at(22)) == 0
    assert [len(await summaries(core, c)) for c in ("1", "-100", "3", "4")] == [1, 1, 0, 1]

    [berlin] = await summaries(core, "1")
    assert berlin.dedupe_key == "summary:console:1:2030-06-10"
    text = berlin.payload["text"]
    assert berlin.payload["title"] == "📊 Daily summary · 2030-06-10"
    assert "Tips in the last 24 h: 1 (" in text
    assert "Status changes: 1" in text and "#1 BTC/USDT 1h: BUY → HOLD · 2030-06-10 11:00 CEST" in text
    assert "/settings summary=HH:MM or summary=off" in text
    [tokyo] = await summaries(core, "-100")
    assert tokyo.dedupe_key == "summary:console:-100:2030-06-10"
    assert "No tips in the last 24 h." in tokyo.payload["text"]
    assert "Watching 1 market (/watchlist) · subscribed to all symbols" in tokyo.payload["text"]

    # The next day each chat gets its next one; the opted-out chat still none.
    assert await summary.run(at(12, days=1)) == 1
    assert (await summaries(core, "-100"))[-1].dedupe_key == "summary:console:-100:2030-06-11"
    assert await summaries(core, "3") == []
    runs = await core.storage.job_runs.recent("summary", limit=20)
    assert sum(r.changed for r in runs) == 4 and all(r.errors == 0 for r in runs)


async def test_summary_sections_and_who_gets_one(core: TipsterCore):
    await core.handle_text(user_ctx(1), "/signal BTC/USDT 1h")
    await core.handle_text(user_ctx(2), "/subscribe BTC/USDT")
    await backdate_tips(core, at(20))
    seen: list[SummaryScope] = []

    async def trades(c: TipsterCore, scope: SummaryScope) -> list[str]:
        seen.append(scope)
        return ["Trades: 3 · win rate 67% · PnL +12.50 USD"]

    async def broken(c: TipsterCore, scope: SummaryScope) -> list[str]:
        raise RuntimeError("positions store offline")

    core.summary_sections = [broken, trades]  # what the positions work registers
    # A group where a tip was given but that follows nothing gets no summary; nor does a blocked chat.
    await core.handle_text(GROUP, "/signal ETH/USDT 1h")
    await core.handle_text(user_ctx(5), "/subscribe")
    await core.storage.chats.mark_blocked("console", "5", "bot was blocked by the user")
    # A tip older than 24 h does not bring a private chat in.
    await core.handle_text(user_ctx(6), "/signal SPY 1d")
    await core.storage.db.execute("UPDATE signals SET created_at = ? WHERE chat_id = '6'", (to_db_time(at(-30)),))

    assert await DailySummary(core).run(at(21)) == 2
    one, two = (await summaries(core, "1"))[0], (await summaries(core, "2"))[0]
    assert "Trades: 3 · win rate 67%" in one.payload["text"]
    assert "subscribed to BTC/USDT" in two.payload["text"] and "Trades: 3" in two.payload["text"]
    assert [(s.chat_id, s.user_id is not None, s.tz) for s in seen] == [("1", True, "UTC"), ("2", True, "UTC")]
    assert seen[0].until - seen[0].since == timedelta(hours=24)
    for chat in ("-100", "5", "6"):
        assert await summaries(core, chat) == []


async def test_summary_opt_out_and_time_via_settings(core: TipsterCore):
    await core.handle_text(user_ctx(1), "/watch SPY 1d")
    await core.handle_text(user_ctx(1), "/settings summary=off")
    assert await DailySummary(core).run(at(23)) == 0
    assert "summary = 09:15" in texts(await core.handle_text(user_ctx(1), "/settings summary=09:15"))
    summary = DailySummary(core)
    assert await summary.run(at(9.2)) == 0  # 09:12
    assert await summary.run(at(9.25)) == 1  # 09:15
    assert await summary.run(at(9.26)) == 0
