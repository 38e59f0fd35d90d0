"""Roles, access lifecycle and every admin command, through the core with real storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.app import open_core
from bot.core.access import Access, access_message, access_of
from bot.core.permissions import ROLE_PERMISSIONS, Permission, Role, allowed
from bot.core.registry import registry
from bot.core.service import TipsterCore
from bot.settings import Settings
from storage.models import User
from tests.bot.test_core_signals import button_data, texts
from tests.conftest import user_ctx

ADMIN_CTX = user_ctx(100)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def admin_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"admins": ["console:100"]})


@pytest.fixture
async def acore(admin_settings: Settings):
    async with open_core(admin_settings) as c:
        await c.ensure_user(ADMIN_CTX)
        yield c


async def make_user(core: TipsterCore, n: int, role: str) -> User:
    user = await core.ensure_user(user_ctx(n))
    await core.storage.user_admin.set_access(user.id, role=role)
    return await core.storage.users.get(user.id)


def test_permission_table():
    assert allowed("admin", Permission.ADMIN) and allowed("admin", Permission.TRADE)
    assert allowed("trader", Permission.TRADE) and not allowed("trader", Permission.ADMIN)
    assert allowed("viewer", Permission.SIGNALS) and not allowed("viewer", Permission.TRADE)
    assert allowed("pending", Permission.BASIC) and not allowed("pending", Permission.SIGNALS)
    assert not allowed("nonsense", Permission.BASIC)
    # Every role is in the table and every role has BASIC.
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert all(Permission.BASIC in perms for perms in ROLE_PERMISSIONS.values())


def test_lifecycle_with_injected_clock():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    base = dict(id=1, identity="telegram:1", platform="telegram", created_at=now, last_seen_at=now)
    trader = User(role="trader", expires_at=now + timedelta(days=30), **base)
    assert access_of(trader, now) is Access.ACTIVE
    assert access_of(trader, now + timedelta(days=30)) is Access.EXPIRED
    assert "expired on 2026-01-31" in access_message(trader, now + timedelta(days=31))
    assert "/contact" in access_message(trader, now + timedelta(days=31))
    assert access_of(User(role="pending", **base), now) is Access.PENDING
    assert access_of(User(role="trader", state="disabled", **base), now) is Access.DISABLED
    # Admins never expire.
    assert access_of(User(role="admin", expires_at=now - timedelta(days=1), **base), now) is Access.ACTIVE


ADMIN_COMMANDS = {
    "/admin": "Admin",
    "/users": "Users (",
    "/user console:1": "User console:1",
    "/grant console:1 viewer": "is now viewer",
    "/activate console:1 10": "until",
    "/deactivate console:1": "is disabled",
    "/deluser console:1": "Delete user?",
    "/allsignals": "tips",
    "/activity": "Audit log",
    "/broadcast hello all": "Send this broadcast?",
    "/inbox": "inbox",
    "/reply 1 thanks": "No message #1",
    "/stats": "Users by role",
    "/health": "Storage: ok",
    "/monitor now": "Jobs are not running",
    "/reload": "config.yaml reloaded",
}


def test_table_covers_every_admin_command():
    admin_only = {name for name, c in registry.commands.items() if c.permission is Permission.ADMIN}
    assert admin_only == {cmd.split()[0][1:] for cmd in ADMIN_COMMANDS}


@pytest.mark.parametrize("role", ["admin", "trader", "viewer", "pending"])
@pytest.mark.parametrize("command", list(ADMIN_COMMANDS))
async def test_every_admin_command_as_each_role(acore: TipsterCore, role: str, command: str):
    await make_user(acore, 1, "trader")  # the target of commands naming a user
    actor_ctx = ADMIN_CTX if role == "admin" else user_ctx(2)
    if role != "admin":
        await make_user(acore, 2, role)
    before = await acore.storage.db.scalar("SELECT role || state FROM users WHERE identity = 'console:1'")
    out = texts(await acore.handle_text(actor_ctx, command))
    if role == "admin":
        assert ADMIN_COMMANDS[command].lower() in out.lower(), out
        assert "admins only" not in out
    else:
        expected = "waiting for an admin" if role == "pending" else "for admins only"
        assert expected in out, out
        after = await acore.storage.db.scalar("SELECT role || state FROM users WHERE identity = 'console:1'")
        assert after == before
        refused = await acore.storage.db.scalar(
            "SELECT COUNT(*) FROM audit WHERE actor = 'console:2' AND result = 'refused'")
        assert refused == 1


async def test_forged_admin_button_from_non_admin_is_refused(acore: TipsterCore):
    target = await make_user(acore, 1, "trader")
    await make_user(acore, 2, "viewer")
    # A genuine admin button (valid signature) pressed by a viewer.
    card = (await acore.handle_text(ADMIN_CTX, "/user console:1"))[0]
    data = button_data(card, "Deactivate")
    out = texts(await acore.handle_button(user_ctx(2), data))
    assert "admins only" in out
    assert (await acore.storage.users.get(target.id)).state == "active"
    assert await acore.storage.db.scalar("SELECT COUNT(*) FROM audit WHERE result='refused'") == 1


async def test_grant_and_last_admin_rules(acore: TipsterCore):
    await make_user(acore, 1, "trader")
    assert "is now admin" in texts(await acore.handle_text(ADMIN_CTX, "/grant 1 admin"))  # bare id: same platform
    assert "is now viewer" in texts(await acore.handle_text(ADMIN_CTX, "/grant console:1 viewer"))
    # console:100 is the only admin left, and configured: it cannot be demoted from chat.
    out = texts(await acore.handle_text(ADMIN_CTX, "/grant console:100 trader"))
    assert "by configuration" in out
    assert "role must be one of admin, trader, viewer, not 'overlord'" in texts(
        await acore.handle_text(ADMIN_CTX, "/grant 1 overlord"))
    assert "No user console:555" in texts(await acore.handle_text(ADMIN_CTX, "/grant 555 viewer"))
    assert "not a user id" in texts(await acore.handle_text(ADMIN_CTX, "/grant ';DROP-TABLE viewer"))
    assert "cannot deactivate yourself" in texts(await acore.handle_text(ADMIN_CTX, "/deactivate console:100"))


async def test_last_admin_granted_from_chat_cannot_demote_self(settings: Settings):
    async with open_core(settings) as core:  # no configured admins
        user = await core.ensure_user(user_ctx(5))
        await core.storage.user_admin.set_access(user.id, role="admin")
        out = texts(await core.handle_text(user_ctx(5), "/grant console:5 trader"))
        assert "last admin" in out
        assert (await core.storage.users.get(user.id)).role == "admin"


async def test_activation_expiry_and_message(admin_settings: Settings):
    clock = Clock()
    async with open_core(admin_settings) as core:
        core.clock = clock
        await core.ensure_user(ADMIN_CTX)
        await make_user(core, 1, "trader")
        assert "until 2026-01-11" in texts(await core.handle_text(ADMIN_CTX, "/activate console:1 10"))
        assert "BTC/USDT · 1h" in texts(await core.handle_text(user_ctx(1), "/signal BTC/USDT 1h"))
        clock.now += timedelta(days=10, seconds=1)
        out = texts(await core.handle_text(user_ctx(1), "/signal BTC/USDT 1h"))
        assert "expired on 2026-01-11" in out and "/contact" in out
        assert "/contact" in texts(await core.handle_text(user_ctx(1), "/start"))
        # An expired user can still write to the admins.
        assert "message #1" in texts(await core.handle_text(user_ctx(1), "/contact please renew"))
        assert "between 1 and" in texts(await core.handle_text(ADMIN_CTX, "/activate console:1 0"))
        assert "no expiry" in texts(await core.handle_text(ADMIN_CTX, "/activate console:1 forever"))
        assert "BTC/USDT" in texts(await core.handle_text(user_ctx(1), "/signal BTC/USDT 1h"))


async def test_bad_admin_arguments(acore: TipsterCore):
    await make_user(acore, 1, "trader")
    cases = {
        "/activate console:1": "Usage: /activate",
        "/activate console:1 -5": "between 1 and 3650",
        "/activate console:1 lots": "whole number",
        "/grant": "Usage: /grant",
        "/user": "Usage: /user",
        "/deluser console:1 everything": "with-signals",
        "/users role=king": "role must be one of admin, trader, viewer, pending, not 'king'",
        "/users state=sleepy": "state must be one of active, disabled, expired, pending, not 'sleepy'",
        "/users colour=red": "Unknown option 'colour'; options are role=, state=.",
        "/allsignals symbol=???": "not a market symbol",
        "/broadcast": "Give TEXT: the message to every active user.",
        "/broadcast " + "x" * 950: "at most 900",
        "/reply": "Usage: /reply",
        "/reply abc hi": "not a message id",
        "/activity a b c": "Give a page number",
        "/activity a 2 3": "Too many arguments ('3'); this command takes at most 2",
    }
    for command, expected in cases.items():
        out = texts(await acore.handle_text(ADMIN_CTX, command))
        assert expected in out, (command, out)
        assert "went wrong" not in out


async def test_deluser_keeps_or_removes_tips(acore: TipsterCore):
    await make_user(acore, 1, "trader")
    await make_user(acore, 2, "trader")
    await acore.handle_text(user_ctx(1), "/signal BTC/USDT 1h")
    await acore.handle_text(user_ctx(2), "/signal BTC/USDT 1h")
    confirm = (await acore.handle_text(ADMIN_CTX, "/deluser console:1"))[0]
    out = texts(await acore.handle_button(ADMIN_CTX, button_data(confirm, "Delete")))
    assert "kept as deleted:" in out
    assert await acore.storage.db.scalar("SELECT COUNT(*) FROM signals") == 2
    confirm = (await acore.handle_text(ADMIN_CTX, "/deluser console:2 with-signals"))[0]
    out = texts(await acore.handle_button(ADMIN_CTX, button_data(confirm, "Delete")))
    assert "with 1 tip(s)" in out
    assert await acore.storage.db.scalar("SELECT COUNT(*) FROM signals") == 1
    assert "No user console:2" in texts(await acore.handle_text(ADMIN_CTX, "/user console:2"))
    # The person behind a deleted id can register again as a new user.
    assert "Welcome" in texts(await acore.handle_text(user_ctx(1), "/start"))


async def test_forgetme_deletes_and_anonymises_audit(acore: TipsterCore):
    await make_user(acore, 1, "trader")
    await acore.handle_text(user_ctx(1), "/signal BTC/USDT 1h")
    await acore.handle_text(user_ctx(1), "/contact hello")
    await acore.handle_text(user_ctx(1), "/admin")  # a refusal: audited with the identity
    assert await acore.storage.db.scalar("SELECT COUNT(*) FROM audit WHERE actor = 'console:1'") == 1
    ask = (await acore.handle_text(user_ctx(1), "/forgetme"))[0]
    # Another user cannot press my confirmation.
    await make_user(acore, 2, "trader")
    assert "not yours" in texts(await acore.handle_button(user_ctx(2), button_data(ask, "Delete my data")))
    done = texts(await acore.handle_button(user_ctx(1), button_data(ask, "Delete my data")))
    assert "deleted" in done
    db = acore.storage.db
    assert await db.scalar("SELECT COUNT(*) FROM users WHERE identity = 'console:1'") == 0
    assert await db.scalar("SELECT COUNT(*) FROM signals") == 0
    assert await db.scalar("SELECT COUNT(*) FROM messages") == 0
    assert await db.scalar("SELECT COUNT(*) FROM audit WHERE actor = 'console:1' OR target = 'console:1'") == 0
    assert await db.scalar("SELECT COUNT(*) FROM audit WHERE actor LIKE 'anon:%'") == 1


async def test_contact_inbox_reply(acore: TipsterCore):
    await make_user(acore, 1, "viewer")
    assert "message #1" in texts(await acore.handle_text(user_ctx(1), "/contact my tips look odd"))
    inbox = texts(await acore.handle_text(ADMIN_CTX, "/inbox"))
    assert "#1" in inbox and "my tips look odd" in inbox and "open" in inbox
    assert "queued for console:1" in texts(await acore.handle_text(ADMIN_CTX, "/reply 1 they are fine"))
    assert "answered" in texts(await acore.handle_text(ADMIN_CTX, "/inbox"))


async def test_stats_health_and_activity(acore: TipsterCore):
    await make_user(acore, 1, "trader")
    await acore.handle_text(user_ctx(1), "/signal BTC/USDT 1h")
    await acore.handle_text(ADMIN_CTX, "/grant console:1 viewer")
    stats = texts(await acore.handle_text(ADMIN_CTX, "/stats"))
    assert "admin 1" in stats and "viewer 1" in stats
    health = texts(await acore.handle_text(ADMIN_CTX, "/health"))
    assert "schema v" in health and "Sentiment model: offline" in health and "Uptime" in health
    activity = texts(await acore.handle_text(ADMIN_CTX, "/activity console:1"))
    assert "grant → console:1 · ok" in activity


async def test_admin_commands_take_named_options(acore: TipsterCore):
    """Discord's slash options reach the same declarations: each option's text is parsed as if typed."""
    await make_user(acore, 1, "trader")
    await make_user(acore, 2, "trader")
    out = texts(await acore.handle_command(ADMIN_CTX, "grant", {"user": "console:1", "role": "viewer"}))
    assert "console:1 is now viewer." in out
    out = texts(await acore.handle_command(ADMIN_CTX, "activate", {"user": "1", "days": "forever"}))
    assert "console:1 is viewer with no expiry." in out
    listing = texts(await acore.handle_command(ADMIN_CTX, "users", {"role": "viewer"}))
    assert "Users (1) · role=viewer" in listing and "console:1" in listing and "console:2" not in listing
    ask = (await acore.handle_command(ADMIN_CTX, "broadcast", {"text": "Maintenance\nat 22:00 UTC"}))[0]
    assert ask.title == "Send this broadcast?" and ask.text.endswith("\n\nMaintenance\nat 22:00 UTC")
    await acore.handle_text(user_ctx(2), "/signal BTC/USDT 1h")
    confirm = (await acore.handle_command(ADMIN_CTX, "deluser", {"user": "console:2", "signals": "with-signals"}))[0]
    assert "and their 1 tip(s)" in confirm.text
    assert "with 1 tip(s)" in texts(await acore.handle_button(ADMIN_CTX, button_data(confirm, "Delete")))
    assert await acore.storage.db.scalar("SELECT COUNT(*) FROM signals") == 0


def test_admin_answers_and_account_commands_are_private():
    private = {name for name, c in registry.commands.items() if c.private}
    assert {"users", "user", "allsignals", "activity", "inbox", "stats", "health", "contact", "forgetme"} <= private
