"""/notify through the core: listing, setting, bad input, the group rule; and what the outbox then stores for
each state, whichever path queues the alert."""

from __future__ import annotations

import json

import pytest

from bot.core.context import ChatContext
from bot.core.replies import Reply
from bot.core.service import TipsterCore
from bot.settings import Settings
from tests.bot.test_core_signals import texts
from tests.conftest import user_ctx

GROUP = ChatContext(platform="console", user_id="2", chat_id="-100", chat_type="group", username="user2")
EVERY = ["status", "exits", "scans", "summaries", "announcements"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"admins": ["console:100"]})


def group_admin(core: TipsterCore, answer: bool) -> None:
    async def check(ctx: ChatContext) -> bool:
        return answer

    core.chat_admin_checks["console"] = check


def listed(out: str) -> dict[str, str]:
    """kind → state word, read from the listing's lines ("scans: 🔕 silent — …")."""
    found = {}
    for line in out.splitlines():
        head, sep, _ = line.partition(" — ")
        if sep and ":" in head:
            kind, _, mark = head.partition(":")
            found[kind.strip()] = mark.split()[-1]
    return found


async def test_listing_and_setting(core: TipsterCore):
    ctx = user_ctx(1)
    out = texts(await core.handle_text(ctx, "/notify"))
    assert "Notifications in this chat" in out
    assert listed(out) == dict.fromkeys(EVERY, "on")

    out = texts(await core.handle_text(ctx, "/notify summaries off"))
    assert "summaries is now off in this chat." in out
    assert listed(out) == {**dict.fromkeys(EVERY, "on"), "summaries": "off"}
    out = texts(await core.handle_text(ctx, "/notify SCANS Silent"))
    assert listed(out)["scans"] == "silent"
    # Stored per chat: another chat is untouched, this one keeps both after a fresh listing.
    assert listed(texts(await core.handle_text(user_ctx(2), "/notify"))) == dict.fromkeys(EVERY, "on")
    assert listed(texts(await core.handle_text(ctx, "/notify"))) == {
        **dict.fromkeys(EVERY, "on"), "summaries": "off", "scans": "silent"}
    # Back on: the stored object keeps only what differs from the default.
    await core.handle_text(ctx, "/notify summaries on")
    raw = await core.storage.db.scalar("SELECT notify_json FROM chats WHERE platform='console' AND chat_id='1'")
    assert json.loads(raw) == {"scans": "silent"}


@pytest.mark.parametrize(("command", "expected"), [
    ("/notify noise off", "kind must be one of status, exits, scans, summaries, announcements, not 'noise'"),
    ("/notify scans loud", "state must be one of on, silent, off, not 'loud'"),
    ("/notify scans", "Say on, silent or off for scans."),
    ("/notify off", "Say which kind to set off"),
])
async def test_bad_kind_or_state_is_one_line_with_usage(core: TipsterCore, command: str, expected: str):
    out = texts(await core.handle_text(user_ctx(1), command))
    assert expected in out, out
    assert "Usage: /notify [status|exits|scans|summaries|announcements] [on|silent|off]" in out, out
    assert await core.storage.db.scalar("SELECT notify_json FROM chats WHERE chat_id='1'") in (None, "{}")


async def test_in_a_group_only_chat_admins_or_bot_admins_change_it(core: TipsterCore):
    group_admin(core, False)
    out = texts(await core.handle_text(GROUP, "/notify scans off"))
    assert "needs the group's admin rights" in out
    assert listed(texts(await core.handle_text(GROUP, "/notify")))["scans"] == "on"  # anyone may list
    assert "Notifications in this group" in texts(await core.handle_text(GROUP, "/notify"))

    group_admin(core, True)
    assert listed(texts(await core.handle_text(GROUP, "/notify scans off")))["scans"] == "off"

    group_admin(core, False)  # a bot admin who is not the group's admin
    bot_admin = ChatContext(platform="console", user_id="100", chat_id="-100", chat_type="group", username="boss")
    assert listed(texts(await core.handle_text(bot_admin, "/notify scans silent")))["scans"] == "silent"
    assert listed(texts(await core.handle_text(user_ctx(2), "/notify")))["scans"] == "on"  # the private chat


async def test_outbox_obeys_each_state(core: TipsterCore):
    outbox = core.services.outbox
    ctx = user_ctx(1)
    await core.handle_text(ctx, "/notify summaries off")
    await core.handle_text(ctx, "/notify scans silent")
    card = Reply(title="t", text="x")
    await outbox.enqueue("console", "1", card, "summary")
    await outbox.enqueue("console", "1", card, "scan")
    await outbox.enqueue("console", "1", card, "status_change")
    await outbox.enqueue("console", "1", card, "access_decision")  # no /notify word: always sent
    await outbox.enqueue("console", "2", card, "summary")  # another chat: on
    # The batched path the monitor and the position jobs use obeys it too.
    async with core.storage.db.transaction() as conn:
        await outbox.alerts.enqueue_many([("console", "1", "summary", card.model_dump(mode="json"), None),
                                          ("console", "1", "scan", card.model_dump(mode="json"), None)], conn)
    rows = await outbox.alerts.for_chat("console", "1")
    got = [(a.kind, a.status, a.payload.get("silent", False), a.last_error) for a in rows]
    off = "notifications off in this chat: summaries"
    assert got == [("summary", "dropped", False, off), ("scan", "pending", True, None),
                   ("status_change", "pending", False, None), ("access_decision", "pending", False, None),
                   ("summary", "dropped", False, off), ("scan", "pending", True, None)]
    other = await outbox.alerts.for_chat("console", "2")
    assert [(a.status, a.payload.get("silent", False)) for a in other] == [("pending", False)]
    assert Reply.model_validate(rows[1].payload).silent is True


async def test_alerts_already_waiting_follow_a_new_choice(core: TipsterCore):
    outbox = core.services.outbox
    ctx = user_ctx(1)
    card = Reply(title="t", text="x")
    for kind in ("scan", "scan", "summary", "status_change"):
        await outbox.enqueue("console", "1", card, kind)
    await outbox.enqueue("console", "2", card, "scan")  # another chat's scan stays as it was
    await core.handle_text(ctx, "/notify scans off")
    await core.handle_text(ctx, "/notify summaries silent")
    rows = await outbox.alerts.for_chat("console", "1")
    off = "notifications off in this chat: scans"
    assert [(a.kind, a.status, a.payload.get("silent", False), a.last_error) for a in rows] == [
        ("scan", "dropped", False, off), ("scan", "dropped", False, off), ("summary", "pending", True, None),
        ("status_change", "pending", False, None)]
    await core.handle_text(ctx, "/notify summaries on")
    [summary] = [a for a in await outbox.alerts.for_chat("console", "1") if a.kind == "summary"]
    assert "silent" not in summary.payload and summary.status == "pending"
    [theirs] = await outbox.alerts.for_chat("console", "2")
    assert theirs.status == "pending"


async def test_console_prints_a_silent_alert_marked(core: TipsterCore):
    from bot.console.outbox_printer import ConsoleAlertSender

    shown: list[Reply] = []

    class Screen:
        ctx = user_ctx(1)

        def show(self, replies: list[Reply], chat_id: str | None = None) -> None:
            shown.extend(replies)

    sender = ConsoleAlertSender(Screen())
    await sender.send("1", Reply(title="BTC", text="x", silent=True))
    await sender.send("1", Reply(title="ETH", text="y"))
    assert [r.title for r in shown] == ["🔕 ALERT (silent): BTC", "🔔 ALERT: ETH"]
