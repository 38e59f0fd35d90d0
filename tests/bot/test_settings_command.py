"""/settings through its declared arguments: typed text and named options (Discord) store the same settings."""

from __future__ import annotations

from bot.core.registry import registry
from bot.core.service import TipsterCore
from tests.bot.test_core_signals import texts
from tests.conftest import user_ctx


async def saved(core: TipsterCore, n: int = 1) -> dict:
    user = await core.storage.users.by_identity(f"console:{n}")
    assert user is not None
    return user.settings


async def test_typed_options_are_saved_by_their_setting_names(core: TipsterCore) -> None:
    out = texts(await core.handle_text(user_ctx(), "/settings buy=0.3 tz=Europe/Berlin"))
    assert "Settings saved" in out and "buy = +0.30\n" in out and "tz = Europe/Berlin\n" in out
    assert await saved(core) == {"buy_threshold": 0.3, "timezone": "Europe/Berlin"}
    # One weight alone sets the other to 1 − it; the long spellings and tf= are the same options.
    await core.handle_text(user_ctx(), "/settings technical_weight=0.7 tf=4h")
    assert await saved(core) == {"buy_threshold": 0.3, "timezone": "Europe/Berlin", "technical_weight": 0.7,
                                 "sentiment_weight": 0.3, "timeframe": "4h"}
    # A default size is kept to the cent (as text: JSON keeps it exact), and shown with its cents.
    await core.handle_text(user_ctx(), "/settings size=500.75")
    assert (await saved(core))["size"] == "500.75"
    assert "size = $500.75 (default" in texts(await core.handle_text(user_ctx(), "/settings"))
    await core.handle_text(user_ctx(), "/settings size=$250")  # with the dollar sign, as before
    assert (await saved(core))["size"] == "250"
    assert "size = $250 (default" in texts(await core.handle_text(user_ctx(), "/settings"))
    for bad in ("size=0", "size=$1000001", "size=1e3", "size=$"):
        assert "size must be" in texts(await core.handle_text(user_ctx(), f"/settings {bad}")), bad
    assert (await saved(core))["size"] == "250"


async def test_named_options_store_what_typing_stores(core: TipsterCore) -> None:
    await core.handle_text(user_ctx(1), "/settings buy=0.4 sw=0.25 summary=7:05")
    await core.handle_command(user_ctx(2), "settings", {"buy": "0.4", "sw": "0.25", "summary": "7:05"})
    assert await saved(core, 1) == await saved(core, 2) == {"buy_threshold": 0.4, "sentiment_weight": 0.25,
                                                              "technical_weight": 0.75}
    assert await core.storage.chat_settings.get("console", "2") == {"summary": "07:05"}
    out = texts(await core.handle_command(user_ctx(2), "settings", {"reset": "reset"}))
    assert "Settings reset to defaults" in out and "summary = 21:00 (default)" in out
    assert await saved(core, 2) == {} and await saved(core, 1) != {}


async def test_reset_goes_alone(core: TipsterCore) -> None:
    await core.handle_text(user_ctx(), "/settings buy=0.5")
    for command in ("/settings reset buy=0.3", "/settings buy=0.3 reset", "/settings resetx", "/settings reset reset"):
        out = texts(await core.handle_text(user_ctx(), command))
        assert "Usage: /settings [reset]" in out, (command, out)
        assert await saved(core) == {"buy_threshold": 0.5}
    assert "key=value" in texts(await core.handle_text(user_ctx(), "/settings resetx"))
    assert "timeframe = 1h (default)" in texts(await core.handle_text(user_ctx(), "/settings RESET"))
    assert await saved(core) == {}


def test_the_settings_answer_is_for_the_asker_alone() -> None:
    assert registry.commands["settings"].private
