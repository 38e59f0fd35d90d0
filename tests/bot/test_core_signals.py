"""The core's /signal flow, end to end through storage, with the bundled replay data."""

from __future__ import annotations

import pytest

from bot.core.replies import Reply, split_text
from bot.core.service import TipsterCore
from tests.conftest import user_ctx


def texts(replies: list[Reply]) -> str:
    return "\n".join(r.plain() + (r.notice or "") for r in replies)


def button_data(reply: Reply, label_part: str) -> str:
    for row in reply.buttons:
        for b in row:
            if label_part in b.label:
                return b.data
    raise AssertionError(f"no button {label_part!r} in {[b.label for row in reply.buttons for b in row]}")


async def test_start_and_help(core: TipsterCore):
    out = texts(await core.handle_text(user_ctx(), "/start"))
    assert "Welcome to Tipster" in out and "DEMO" in out
    help_text = texts(await core.handle_text(user_ctx(), "/help"))
    for cmd in ("/signal", "/signals", "/history", "/settings", "/cancel"):
        assert cmd in help_text


async def test_signal_card_is_stored_and_labelled_demo(core: TipsterCore):
    replies = await core.handle_text(user_ctx(), "/signal BTC/USDT 1h")
    assert len(replies) == 1
    card = replies[0]
    assert card.title and "BTC/USDT" in card.title and "DEMO" in card.title
    for needle in ("Confidence", "Reasoning: Technical:", "Sentiment", "RSI", "ATR", "Not financial advice",
                   "buy ≥ +0.30", "weights technical 0.6 / sentiment 0.4", "Tip #1"):
        assert needle in card.text
    assert [[b.label for b in row] for row in card.buttons] == [["🔄 Refresh", "📜 History", "✖ Dismiss"],
                                                                ["👁 Watch", "📰 News", "📈 Chart"]]
    stored = await core.storage.signals.get(1)
    assert stored is not None and stored.symbol == "BTC/USDT" and stored.demo
    history = await core.storage.signals.history(1)
    assert [e.event for e in history] == ["signal_created"]


async def test_overrides_are_applied(core: TipsterCore):
    card = (await core.handle_text(user_ctx(), "/signal ETH/USDT 4h buy=0.7 sell=-0.7 tw=0.8"))[0]
    assert "buy ≥ +0.70" in card.text and "sell ≤ -0.70" in card.text
    assert "weights technical 0.8 / sentiment 0.2" in card.text
    stored = await core.storage.signals.get(1)
    assert stored.params.technical_weight == 0.8 and stored.params.sentiment_weight == pytest.approx(0.2)


async def test_picker_flow(core: TipsterCore):
    ctx = user_ctx()
    ask = (await core.handle_text(ctx, "/signal"))[0]
    assert "Which market" in (ask.title or "")
    tf_menu = (await core.handle_button(ctx, button_data(ask, "SOL/USDT")))[0]
    assert tf_menu.edit and "SOL/USDT" in (tf_menu.title or "")
    card = (await core.handle_button(ctx, button_data(tf_menu, "1h")))[0]
    assert card.edit and "SOL/USDT" in (card.title or "")
    # The flow is over: its buttons are stale now.
    stale = await core.handle_button(ctx, button_data(tf_menu, "4h"))
    assert "expired" in texts(stale)


async def test_picker_accepts_typed_symbol_and_cancel(core: TipsterCore):
    ctx = user_ctx()
    await core.handle_text(ctx, "/signal")
    card = (await core.handle_text(ctx, "aapl 1d"))[0]
    assert "AAPL" in (card.title or "")
    await core.handle_text(ctx, "/signal")
    assert texts(await core.handle_text(ctx, "/cancel")) == "Cancelled."
    assert texts(await core.handle_text(ctx, "/cancel")) == "Nothing to cancel."


async def test_buttons_refresh_history_dismiss(core: TipsterCore):
    ctx = user_ctx()
    card = (await core.handle_text(ctx, "/signal BTC/USDT 1h"))[0]
    hist = await core.handle_button(ctx, button_data(card, "History"))
    assert "signal_created" in texts(hist)
    refreshed = (await core.handle_button(ctx, button_data(card, "Refresh")))[0]
    assert refreshed.edit and "Tip #2" in refreshed.text
    assert (await core.storage.signals.get(1)).status == "superseded"
    dismissed = (await core.handle_button(ctx, button_data(refreshed, "Dismiss")))[0]
    assert dismissed.edit and "dismissed" in dismissed.text
    assert (await core.storage.signals.get(2)).status == "dismissed"


async def test_forged_and_foreign_buttons_are_refused_and_logged(core: TipsterCore):
    owner, other = user_ctx(1), user_ctx(2)
    card = (await core.handle_text(owner, "/signal BTC/USDT 1h"))[0]
    data = button_data(card, "Dismiss")
    # Another user pressing a genuine button of the owner's tip.
    out = await core.handle_button(other, data)
    assert "not yours" in texts(out)
    assert (await core.storage.signals.get(1)).status == "active"
    # Forged: same shape, another id, signature kept.
    action, sid, sig = data.split(":")
    for forged in (f"{action}:2:{sig}", f"{action}:{sid}:AAAAAAAAAA", "dm:1", "", "x" * 200, "rf:1:" + sig):
        out = await core.handle_button(other, forged)
        assert "not valid" in texts(out)
    refusals = await core.storage.db.scalar("SELECT COUNT(*) FROM activity WHERE kind IN ('refused', 'forged_button')")
    assert refusals >= 6
    assert (await core.storage.signals.get(1)).status == "active"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/signal DOGE/USDT 1h", "Available: "),
        ("/signal BTC/USDT 2h", "Unknown timeframe"),
        ("/signal AAPL 1h", "1d"),
        ("/signal BTC/USDT 1h buy=abc", "must be a number"),
        ("/signal BTC/USDT 1h buy=0.1 sell=0.2", "greater than sell"),
        ("/signal BTC/USDT 1h tw=2", "between 0 and 1"),
        ("/signal BTC/USDT 1h tw=0.7 sw=0.7", "sum to 1"),
        ("/signal BTC/USDT 1h foo=1", "fused has no parameter 'foo'"),
        ("/signal BTC/USDT 1h buy=", "key=value"),
        ("/signal BTC/USDT 1h buy=nan", "between"),
        ("/signal BTC/USDT 1h buy=0.5 buy=0.6", "twice"),
        ("/signal BTC/USDT 1h extra", "Too many"),
        ("/signal <script>alert(1)</script>", "not a market symbol"),
        ("/signal ' OR 1=1 --", "not a market symbol"),
        ("/signal BTC\x00USDT", "not a market symbol"),
        ("/signal 🚀🚀🚀", "not a market symbol"),
        ("/history", "Usage: /history ID"),
        ("/history abc", "not a tip id"),
        ("/history 99999", "No tip #99999"),
        ("/history 99999999999999999999", "not a tip id"),
        ("/signals x", "whole number"),
        ("/signals 1 2", "takes at most 1 (PAGE)"),
        ("/settings bogus=1", "Unknown option 'bogus'; options are timeframe="),
        ("/settings tz=Mars/Phobos", "Unknown timezone"),
        ("/settings tz=../../etc/passwd", "Unknown timezone"),
        ("/settings buy=0.1 sell=0.5", "Not saved"),
        ("/settings timeframe=7m", "Unknown timeframe"),
        ("/settings loose", "key=value"),
        ("/frobnicate", "Unknown command"),
        ("/signal " + "A" * 2000, "too long"),
    ],
)
async def test_bad_input_gets_one_line_reason(core: TipsterCore, command: str, expected: str):
    replies = await core.handle_text(user_ctx(), command)
    assert replies, command
    out = texts(replies)
    assert expected in out, out
    assert "went wrong" not in out
    assert await core.storage.db.scalar("SELECT COUNT(*) FROM signals") == 0


async def test_history_of_another_users_tip_is_refused(core: TipsterCore):
    await core.handle_text(user_ctx(1), "/signal BTC/USDT 1h")
    out = texts(await core.handle_text(user_ctx(2), "/history 1"))
    assert "not yours" in out


async def test_settings_round_trip_and_defaults(core: TipsterCore):
    ctx = user_ctx()
    shown = texts(await core.handle_text(ctx, "/settings"))
    assert "timeframe = 1h (default)" in shown
    saved = texts(await core.handle_text(ctx, "/settings tf=4h buy=0.5 sell=-0.5 sw=0.3 tz=Europe/Berlin"))
    assert "timeframe = 4h" in saved and "tw = 0.7" in saved and "tz = Europe/Berlin" in saved
    card = (await core.handle_text(ctx, "/signal BTC/USDT"))[0]
    assert "· 4h" in (card.title or "") and "buy ≥ +0.50" in card.text
    assert "CET" in card.text or "CEST" in card.text
    assert "timeframe = 1h (default)" in texts(await core.handle_text(ctx, "/settings reset"))


async def test_signals_are_paged(core: TipsterCore):
    ctx = user_ctx()
    for _ in range(12):
        await core.handle_text(ctx, "/signal SPY 1d")
    first = (await core.handle_text(ctx, "/signals"))[0]
    assert "Page 1 of 2" in first.text and "#12" in first.text
    second = (await core.handle_button(ctx, button_data(first, "Older")))[0]
    assert second.edit and "Page 2 of 2" in second.text and "#1 " in second.text


async def test_rate_limit_on_expensive_commands(core: TipsterCore):
    core.limiter.per_minute = 3
    ctx = user_ctx()
    for _ in range(3):
        await core.handle_text(ctx, "/signal BTC/USDT 1h")
    out = texts(await core.handle_text(ctx, "/signal BTC/USDT 1h"))
    assert "Slow down" in out
    assert "Slow down" not in texts(await core.handle_text(user_ctx(2), "/signal BTC/USDT 1h"))


async def test_free_text_hint_and_group_silence(core: TipsterCore):
    assert "/help" in texts(await core.handle_text(user_ctx(), "hello bot"))
    assert await core.handle_text(user_ctx(3, chat_type="group"), "hello everyone") == []


def test_split_text_never_drops_content():
    text = "\n".join(f"line {i} " + "x" * 50 for i in range(300))
    chunks = split_text(text, 4096, max_parts=None)  # replies are capped at MAX_PARTS: see test_hostile_input
    assert all(len(c) <= 4096 for c in chunks)
    assert "\n".join(chunks) == text
    hard = split_text("y" * 10000, 4096)
    assert "".join(hard) == "y" * 10000 and max(map(len, hard)) == 4096
