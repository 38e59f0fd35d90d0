"""Telegram deep links (t.me/bot?start=PAYLOAD) send `/start PAYLOAD`: the words after /start are ignored and
the user gets the welcome. /start still declares no argument (no Discord option, no usage placeholder), and
other commands without arguments keep refusing extra words."""

from __future__ import annotations

import pytest

from bot.core.registry import registry
from bot.core.service import TipsterCore
from tests.bot.test_core_signals import texts
from tests.conftest import user_ctx


@pytest.mark.parametrize("payload", ["ref-abc", "ref_abc 123", "a=b"])
async def test_start_with_a_deep_link_payload_answers_the_welcome(core: TipsterCore, payload: str) -> None:
    out = texts(await core.handle_text(user_ctx(), f"/start {payload}"))
    assert "Welcome to Tipster" in out, out
    assert "argument" not in out and "option" not in out
    # The same welcome as a bare /start (a fresh user both times: nothing else changed it).
    assert out == texts(await core.handle_text(user_ctx(2), "/start")).replace("User 2", "User 1")


async def test_start_shows_no_argument_and_others_still_refuse_extra_words(core: TipsterCore) -> None:
    start = registry.commands["start"]
    assert start.signature.args == () and start.usage == "/start"
    out = texts(await core.handle_text(user_ctx(), "/cancel ref-abc"))
    assert "This command takes no arguments, not 'ref-abc'." in out, out
