"""/help is generated from the commands' declarations: the list by group for the user's role, and
`/help COMMAND` for one command's usage with a line per argument."""

from __future__ import annotations

import pytest

from bot.app import open_core
from bot.core.permissions import Permission
from bot.core.registry import Registry, registry
from bot.core.service import TipsterCore
from bot.core.signature import Arg, Kind
from bot.settings import Settings
from tests.bot.test_core_signals import texts
from tests.conftest import user_ctx

ADMIN = user_ctx(100)


@pytest.fixture
async def acore(settings: Settings):
    async with open_core(settings.model_copy(update={"admins": ["console:100"]})) as c:
        yield c


async def test_help_signal_shows_its_usage_and_a_line_per_argument(core: TipsterCore) -> None:
    [reply] = await core.handle_text(user_ctx(), "/help signal")
    assert reply.title == "/signal"
    lines = reply.text.splitlines()
    assert lines[0].startswith("/signal [SYMBOL] [TIMEFRAME] [buy=0.3] [sell=-0.3] [tw=0.6] [sw=0.4]")
    assert lines[1] == "a tip for a market (no symbol: pick one)"
    by_option = {line.split(" — ")[0].strip(): line for line in lines[3:]}
    for shown in ("[SYMBOL]", "[TIMEFRAME]", "[buy=0.3]", "[sell=-0.3]", "[tw=0.6]", "[sw=0.4]"):
        assert shown in by_option, (shown, lines)
        assert len(by_option[shown].split(" — ", 1)[1]) > 5  # each argument has its help text
    # The long spellings of the overrides are named too.
    assert by_option["[buy=0.3]"].endswith("(also buy_threshold=)")
    assert by_option["[sw=0.4]"].endswith("(also sentiment_weight=)")
    # Typed as it appears in the list (with the slash, any case), the answer is the same.
    assert texts(await core.handle_text(user_ctx(), "/help /SIGNAL")) == texts([reply])


async def test_help_settings_names_reset_and_every_option(core: TipsterCore) -> None:
    text = texts(await core.handle_text(user_ctx(), "/help settings"))
    for shown in ("[reset] — ", "[timeframe=1h] — ", "(also tf=)", "[tz=Europe/Berlin] — ", "(also timezone=)",
                  "[summary=HH:MM|off] — ", "[size=500] — "):
        assert shown in text, shown


async def test_help_for_an_unknown_command_is_one_line(core: TipsterCore) -> None:
    replies = await core.handle_text(user_ctx(), "/help nosuch")
    assert len(replies) == 1
    assert replies[0].text == "Unknown command /nosuch. Send /help for the list of commands."
    hostile = texts(await core.handle_text(user_ctx(), "/help <script>alert(1)</script>xxxxxxxxxxxxxxxxxxxxxxx"))
    assert len(hostile.splitlines()) == 1 and "Unknown command" in hostile and len(hostile) < 120


async def test_help_of_a_command_the_role_may_not_run(acore: TipsterCore) -> None:
    core = acore
    assert texts(await core.handle_text(user_ctx(1), "/help broadcast")) == \
        "/broadcast is for admins only. Send /help for your commands."
    user = await core.ensure_user(user_ctx(2))
    await core.storage.users.set_role(user.id, "viewer")
    assert texts(await core.handle_text(user_ctx(2), "/help open")) == \
        "Your role (viewer) does not allow /open. Send /help for your commands."
    [admin_help] = await core.handle_text(ADMIN, "/help monitor")
    assert admin_help.title == "/monitor" and admin_help.text.splitlines()[0] == "/monitor pause|resume|now"


async def test_the_list_follows_the_role(acore: TipsterCore) -> None:
    core = acore
    trader = texts(await core.handle_text(user_ctx(1), "/help"))
    admin = texts(await core.handle_text(ADMIN, "/help"))
    assert "/monitor pause|resume|now — pause, resume or run monitoring now" in admin
    assert "/monitor" not in trader and "Admin:" not in trader
    for text in (trader, admin):
        assert "Follow:\n  /watch SYMBOL [TIMEFRAME] — scan a market for tips in this chat" in text
        assert "Options for /signal: buy=0.5 sell=-0.5 tw=0.7 sw=0.3 (one weight sets the other to 1 − it)." in text


async def test_help_is_generated_from_the_declarations(core: TipsterCore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command declared now shows up in /help and /help NAME with its usage built from its arguments."""
    extra = Registry(commands=dict(registry.commands))

    @extra.command("probe", "a probe command", group="Probing", args=(
        Arg("symbol", Kind.SYMBOL, "which market", required=True),
        Arg("days", Kind.INT, "how many days back", low=1, high=30, metavar="DAYS"),
        Arg("mode", Kind.CHOICE, "how to probe", keyed=True, choices=("fast", "slow")),
    ))
    async def probe(core, req):  # pragma: no cover - never called
        return []

    @extra.command("secretprobe", "admins only", permission=Permission.ADMIN)
    async def secret(core, req):  # pragma: no cover - never called
        return []

    monkeypatch.setattr(registry, "commands", extra.commands)
    listing = texts(await core.handle_text(user_ctx(), "/help"))
    assert "Probing:\n  /probe SYMBOL [DAYS] [mode=fast|slow] — a probe command" in listing
    assert "secretprobe" not in listing
    [one] = await core.handle_text(user_ctx(), "/help probe")
    assert one.text.splitlines() == [
        "/probe SYMBOL [DAYS] [mode=fast|slow]",
        "a probe command",
        "",
        "  SYMBOL — which market",
        "  [DAYS] — how many days back",
        "  [mode=fast|slow] — how to probe",
    ]
