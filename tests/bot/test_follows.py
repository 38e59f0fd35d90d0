"""/watch, /unwatch, /watchlist, [👁 Watch], /subscribe, /unsubscribe, /subscriptions and /settings summary=,
through the core with real storage and the bundled replay market."""

from __future__ import annotations

import pytest

from bot.core.context import ChatContext
from bot.core.service import TipsterCore
from bot.core.usecases.follows import MAX_WATCHES
from tests.bot.test_core_signals import button_data, texts
from tests.conftest import user_ctx

GROUP = ChatContext(platform="console", user_id="1", chat_id="-100", chat_type="group", username="user1")
GROUP_OTHER = ChatContext(platform="console", user_id="2", chat_id="-100", chat_type="group", username="user2")


def group_admin(core: TipsterCore, answer: bool) -> None:
    """Simulate the platform's live answer to "does this member administer the group?"."""
    async def check(ctx: ChatContext) -> bool:
        return answer

    core.chat_admin_checks["console"] = check


async def watched(core: TipsterCore, chat_id: str = "1") -> list[tuple[str, str]]:
    return [(w.symbol, w.timeframe) for w in await core.storage.watches.for_chat("console", chat_id)]


async def test_watch_unwatch_and_watchlist(core: TipsterCore):
    ctx = user_ctx(1)
    assert "Watching BTC/USDT 1h in this chat" in texts(await core.handle_text(ctx, "/watch btc/usdt 1h"))
    assert "Already watching BTC/USDT 1h" in texts(await core.handle_text(ctx, "/watch BTC/USDT 1h"))
    # No timeframe: the user's default timeframe.
    await core.handle_text(ctx, "/settings tf=4h")
    assert "Watching ETH/USDT 4h" in texts(await core.handle_text(ctx, "/watch ETH/USDT"))
    await core.handle_text(ctx, "/watch ETH/USDT 1d")
    # A default the symbol lacks (daily stock data) falls back to what it has, and says so.
    out = texts(await core.handle_text(ctx, "/watch AAPL"))
    assert "Watching AAPL 1d" in out and "no 4h data" in out
    assert await watched(core) == [("AAPL", "1d"), ("BTC/USDT", "1h"), ("ETH/USDT", "1d"), ("ETH/USDT", "4h")]
    chat = await core.storage.chats.get("console", "1")
    assert chat is not None and chat.chat_type == "private"

    listing = (await core.handle_text(ctx, "/watchlist"))[0]
    assert listing.title == "Watchlist (4)" and "BTC/USDT 1h" in listing.text
    assert all(len(row) <= 3 for row in listing.buttons)
    edited = (await core.handle_button(ctx, button_data(listing, "✖ AAPL 1d")))[0]
    assert edited.edit and edited.title == "Watchlist (3)" and "Stopped watching AAPL 1d" in (edited.notice or "")
    # The same button again: nothing left to remove, said politely.
    again = (await core.handle_button(ctx, button_data(listing, "✖ AAPL 1d")))[0]
    assert "does not watch AAPL 1d" in (again.notice or "")

    assert "Stopped watching ETH/USDT (2 timeframes)" in texts(await core.handle_text(ctx, "/unwatch eth/usdt"))
    assert "does not watch SOL/USDT" in texts(await core.handle_text(ctx, "/unwatch SOL/USDT"))
    assert "Stopped watching BTC/USDT 1h" in texts(await core.handle_text(ctx, "/unwatch BTC/USDT 1h"))
    assert "watches nothing" in texts(await core.handle_text(ctx, "/watchlist"))
    # Normal use is in the activity log, never in the audit log.
    kinds = [e.kind for e in await core.storage.activity.recent(limit=50)]
    assert kinds.count("watch_added") == 4 and kinds.count("watch_removed") == 3
    assert await core.storage.db.scalar("SELECT COUNT(*) FROM audit") == 0


async def test_watch_limit_per_chat(core: TipsterCore):
    user = await core.ensure_user(user_ctx(1))
    for i in range(MAX_WATCHES):
        await core.storage.watches.add("console", "1", user.id, f"SYM{i}", "1h")
    out = texts(await core.handle_text(user_ctx(1), "/watch BTC/USDT 1h"))
    assert "already watches 20 markets" in out
    assert ("BTC/USDT", "1h") not in await watched(core)
    # Another chat has its own limit.
    assert "Watching" in texts(await core.handle_text(user_ctx(2), "/watch BTC/USDT 1h"))


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/watch", "Usage: /watch SYMBOL [TIMEFRAME]"),
        ("/watch DOGE/USDT", "Unknown symbol DOGE/USDT. Available: AAPL, BTC/USDT"),
        ("/watch BTC/USDT 2h", "Unknown timeframe '2h'"),
        ("/watch BTC/USDT 5m", "Unknown timeframe '5m'; use one of 15m, 1h, 4h, 1d"),
        ("/watch AAPL 1h", "AAPL has no 1h data; available: 1d"),
        ("/watch BTC/USDT 1h extra", "Too many arguments ('extra'); this command takes at most 2"),
        ("/watch <script>alert(1)</script>", "not a market symbol"),
        ("/watch ' OR 1=1 --", "not a market symbol"),
        ("/watch ';DROP", "not a market symbol"),
        ("/watch BTC\x00USDT", "not a market symbol"),
        ("/watch 🚀🚀🚀", "not a market symbol"),
        ("/watch " + "A" * 200, "not a market symbol"),
        ("/unwatch", "Usage: /unwatch SYMBOL [TIMEFRAME]"),
        ("/unwatch BTC/USDT 7m", "Unknown timeframe"),
        ("/unwatch <b>x</b>", "not a market symbol"),
        ("/unwatch BTC/USDT", "does not watch BTC/USDT"),
        ("/watchlist all", "takes no arguments"),
        ("/subscribe DOGE/USDT", "Unknown symbol DOGE/USDT. Available:"),
        ("/subscribe BTC/USDT ETH/USDT", "Too many arguments"),
        ("/subscribe <script>", "not a market symbol"),
        ("/subscribe ../../etc", "not a market symbol"),
        ("/unsubscribe BTC/USDT", "was not subscribed to BTC/USDT"),
        ("/unsubscribe", "was not subscribed to everything"),
        ("/unsubscribe 🚀", "not a market symbol"),
        ("/subscriptions x", "takes no arguments"),
        ("/settings summary=25:00", "summary must be a time HH:MM"),
        ("/settings summary=9", "summary must be a time HH:MM"),
        ("/settings summary=<b>", "summary must be a time HH:MM"),
        ("/settings summary=21:00 summary=off", "twice"),
    ],
)
async def test_bad_follow_input_gets_one_line_reason(core: TipsterCore, command: str, expected: str):
    out = texts(await core.handle_text(user_ctx(), command))
    assert expected in out, out
    assert "went wrong" not in out
    assert await core.storage.watches.count() == 0
    assert await core.storage.subscriptions.count() == 0
    assert await core.storage.chat_settings.get("console", "1") == {}


async def test_subscriptions(core: TipsterCore):
    ctx = user_ctx(1)
    assert "has no subscriptions" in texts(await core.handle_text(ctx, "/subscriptions"))
    assert "Subscribed this chat to BTC/USDT" in texts(await core.handle_text(ctx, "/subscribe btc/usdt"))
    assert "already subscribed to BTC/USDT" in texts(await core.handle_text(ctx, "/subscribe BTC/USDT"))
    assert "Subscribed this chat to all symbols" in texts(await core.handle_text(ctx, "/subscribe"))
    assert "already subscribed to ETH/USDT (through all)" in texts(await core.handle_text(ctx, "/subscribe ETH/USDT"))
    listing = texts(await core.handle_text(ctx, "/subscriptions"))
    assert "Subscriptions (2)" in listing and "• all symbols" in listing and "• BTC/USDT" in listing
    assert sorted(await core.storage.subscriptions.chats_for("SOL/USDT")) == [("console", "1")]
    assert "Unsubscribed this chat from BTC/USDT" in texts(await core.handle_text(ctx, "/unsubscribe BTC/USDT"))
    # One symbol cannot be cut out of "all": say how to end it instead.
    assert "/unsubscribe all" in texts(await core.handle_text(ctx, "/unsubscribe ETH/USDT"))
    assert "Unsubscribed this chat from everything" in texts(await core.handle_text(ctx, "/unsubscribe ALL"))
    assert await core.storage.subscriptions.for_chat("console", "1") == []
    await core.handle_text(ctx, "/subscribe SPY")
    await core.handle_text(ctx, "/subscribe")
    assert "from everything" in texts(await core.handle_text(ctx, "/unsubscribe"))
    assert await core.storage.subscriptions.count() == 0
    assert await core.storage.db.scalar("SELECT COUNT(*) FROM audit") == 0


async def test_group_follows_need_group_admin_rights(core: TipsterCore):
    group_admin(core, False)
    for command in ("/watch BTC/USDT 1h", "/subscribe", "/unwatch BTC/USDT", "/unsubscribe all",
                    "/settings summary=08:00"):
        out = texts(await core.handle_text(GROUP, command))
        assert "needs the group's admin rights" in out, (command, out)
    assert await core.storage.watches.count() == 0 and await core.storage.subscriptions.count() == 0
    assert await core.storage.chat_settings.get("console", "-100") == {}
    refused = await core.storage.db.scalar("SELECT COUNT(*) FROM audit WHERE result = 'refused'")
    assert refused == 5
    # Looking is open to every member.
    assert "watches nothing" in texts(await core.handle_text(GROUP, "/watchlist"))
    assert "no subscriptions" in texts(await core.handle_text(GROUP, "/subscriptions"))

    group_admin(core, True)
    assert "Watching BTC/USDT 1h in this group" in texts(await core.handle_text(GROUP, "/watch BTC/USDT 1h"))
    assert "Subscribed this group to all symbols" in texts(await core.handle_text(GROUP, "/subscribe all"))
    assert "daily summary is now at 08:00" in texts(await core.handle_text(GROUP, "/settings summary=8:00"))
    # The follows are the group's, not the typing member's private chat's.
    assert await watched(core, "-100") == [("BTC/USDT", "1h")] and await watched(core, "1") == []
    assert await core.storage.subscriptions.chats_for("ETH/USDT") == [("console", "-100")]
    assert (await core.storage.chat_settings.get("console", "-100"))["summary"] == "08:00"
    chat = await core.storage.chats.get("console", "-100")
    assert chat is not None and chat.is_group
    # Another member with admin rights sees and changes the same list; a member without them cannot.
    assert "BTC/USDT 1h" in texts(await core.handle_text(GROUP_OTHER, "/watchlist"))
    group_admin(core, False)
    listing = (await core.handle_text(GROUP_OTHER, "/watchlist"))[0]
    refused = await core.handle_button(GROUP_OTHER, button_data(listing, "✖ BTC/USDT 1h"))
    assert "admin rights" in texts(refused)
    assert await watched(core, "-100") == [("BTC/USDT", "1h")]


async def test_settings_summary_in_a_private_chat(core: TipsterCore):
    ctx = user_ctx(1)
    assert "summary = 21:00 (default)" in texts(await core.handle_text(ctx, "/settings"))
    saved = texts(await core.handle_text(ctx, "/settings summary=7:30 tz=Europe/Berlin"))
    assert "summary = 07:30 (this chat" in saved and "tz = Europe/Berlin" in saved
    assert await core.storage.chat_settings.get("console", "1") == {"summary": "07:30"}
    user = await core.storage.users.by_identity("console:1")
    assert user.settings == {"timezone": "Europe/Berlin"}  # the private chat's timezone stays the user's
    assert "summary = off" in texts(await core.handle_text(ctx, "/settings summary=OFF"))
    # Another user's private chat keeps the default.
    assert "summary = 21:00 (default)" in texts(await core.handle_text(user_ctx(2), "/settings"))
    assert "summary = 21:00 (default)" in texts(await core.handle_text(ctx, "/settings reset"))


async def test_watch_button_on_the_tip_card(core: TipsterCore):
    owner, other = user_ctx(1), user_ctx(2)
    card = (await core.handle_text(owner, "/signal ETH/USDT 4h"))[0]
    assert [[b.label for b in row] for row in card.buttons] == [["🔄 Refresh", "📜 History", "✖ Dismiss"],
                                                                ["👁 Watch", "📰 News", "📈 Chart"]]
    watch = button_data(card, "Watch")
    out = await core.handle_button(owner, watch)
    assert out[0].notice == "Watching ETH/USDT 4h in this chat."
    assert "Already watching" in (await core.handle_button(owner, watch))[0].notice
    # Another user pressing the owner's genuine button: refused, logged, nothing added for them.
    out = await core.handle_button(other, watch)
    assert "not yours" in texts(out)
    assert await watched(core, "2") == []
    assert await core.storage.db.scalar("SELECT COUNT(*) FROM audit WHERE result = 'refused'") == 1
    # A finished tip has no Watch button.
    dismissed = (await core.handle_button(owner, button_data(card, "Dismiss")))[0]
    assert all("Watch" not in b.label for row in dismissed.buttons for b in row)

    # In a group the owner still needs the group's admin rights: the watch would be the group's.
    group_admin(core, False)
    group_card = (await core.handle_text(GROUP, "/signal BTC/USDT 1h"))[0]
    assert "admin rights" in texts(await core.handle_button(GROUP, button_data(group_card, "Watch")))
    group_admin(core, True)
    assert "in this group" in texts(await core.handle_button(GROUP, button_data(group_card, "Watch")))
    assert await watched(core, "-100") == [("BTC/USDT", "1h")]


async def test_follow_commands_are_listed_in_help(core: TipsterCore):
    out = texts(await core.handle_text(user_ctx(), "/help"))
    assert "Follow:" in out
    for usage in ("/watch SYMBOL [TIMEFRAME]", "/unwatch SYMBOL [TIMEFRAME]", "/watchlist", "/subscribe [SYMBOL|all]",
                  "/unsubscribe [SYMBOL|all]", "/subscriptions", "summary=HH:MM|off"):
        assert usage in out
