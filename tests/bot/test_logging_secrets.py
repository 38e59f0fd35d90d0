"""Secrets never reach the log: not in messages, not in exception text or tracebacks, not in stack_info — and
the CLI masks every secret-bearing setting (broker keys and secrets, the Redis password), not only tokens."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import cli
from bot.logging_setup import SecretMaskingFilter, settings_secrets, setup_logging
from bot.settings import Settings

TELEGRAM = "7654321:AAE-telegram-secret-half-0123456789"
SECRETS = {
    "telegram": TELEGRAM,
    "discord": "MTIz.discord-token-value.abcdef",
    "alpaca key": "PKALPACAKEY123456",
    "alpaca secret": "alpaca-secret-value-98765",
    "ccxt key": "ccxt-api-key-13579",
    "ccxt secret": "ccxt-secret-value-24680",
    "redis password": "r3dis-pass@word",
}


def full_settings(tmp_path: Path, base_url: str = "http://127.0.0.1:9/bot") -> Settings:
    return Settings(
        telegram={"token": SECRETS["telegram"], "base_url": base_url},
        discord={"token": SECRETS["discord"]},
        brokers={"alpaca": {"key": SECRETS["alpaca key"], "secret": SECRETS["alpaca secret"]},
                 "ccxt": {"key": SECRETS["ccxt key"], "secret": SECRETS["ccxt secret"]}},
        storage={"sqlite_path": str(tmp_path / "t.sqlite"),
                 "redis_url": "redis://tipster:r3dis-pass%40word@127.0.0.1:9/0"},
        sentiment={"model": "offline"},
    )


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:], root.level = saved


def test_every_secret_setting_is_masked_in_messages_tracebacks_and_stacks(tmp_path: Path, restore_logging) -> None:
    path = tmp_path / "bot.log"
    setup_logging(logging.DEBUG, settings_secrets(full_settings(tmp_path)), filename=str(path))
    log = logging.getLogger("test.secrets")
    for name, secret in SECRETS.items():
        log.info("the %s is %s", name, secret)
        try:
            raise RuntimeError(f"the server said: your {name} {secret} was rejected")
        except RuntimeError:
            log.exception("call failed")
        log.warning("where: %s (%s)", name, secret, stack_info=True)
    # Telegram's own wording, with only the secret half of the token.
    log.error("Unauthorized for token half %s", TELEGRAM.split(":")[1])
    text = path.read_text()
    for name, secret in SECRETS.items():
        assert secret not in text, name
    assert TELEGRAM.split(":")[1] not in text
    assert "r3dis-pass%40word" not in text
    # The lines were written, masked: nothing was dropped to hide the secrets.
    assert text.count("Traceback (most recent call last)") == len(SECRETS)
    assert text.count("RuntimeError: the server said") == len(SECRETS) and "<secret>" in text
    assert text.count("Stack (most recent call last)") == len(SECRETS)


def test_the_filter_masks_exception_text_of_every_handler() -> None:
    """A handler with its own formatter still gets the masked traceback (exc_text is set by the filter)."""
    masking = SecretMaskingFilter(["s3cr3t-value"])
    try:
        raise ValueError("token s3cr3t-value refused; also 123456:ABCDEFGHIJKLMNOPQRSTUVWX")
    except ValueError as exc:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", ("s3cr3t-value",),
                                   (type(exc), exc, exc.__traceback__))
    record.stack_info = "Stack (most recent call last):\n  s3cr3t-value"
    assert masking.filter(record)
    formatted = logging.Formatter("%(message)s").format(record)
    assert "s3cr3t-value" not in formatted and "ABCDEFGHIJKLMNOPQRSTUVWX" not in formatted
    assert "ValueError: token <secret> refused" in formatted and "failed: <secret>" in formatted


def test_settings_secrets_lists_every_secret_setting(tmp_path: Path) -> None:
    found = settings_secrets(full_settings(tmp_path))
    for name, secret in SECRETS.items():
        assert secret in found, name
    assert "r3dis-pass%40word" in found  # as it is written in the URL, too
    assert settings_secrets(Settings()) == []


def test_the_cli_masks_every_secret_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            restore_logging) -> None:
    """`tipster run` hands setup_logging every secret of the settings (here: the Bot API port is closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    settings = full_settings(tmp_path, f"http://127.0.0.1:{closed}/bot")
    monkeypatch.setattr(cli, "load_settings", lambda *a, **k: settings)
    monkeypatch.setattr(cli, "_model_problem", lambda s: None)
    handed: list[list[str]] = []
    real = cli.setup_logging

    def spy(level: int, secrets: list[str] | None = None, filename: str | None = None, fmt: str = "text") -> object:
        handed.append(list(secrets or []))
        return real(level, secrets, filename=str(tmp_path / "cli.log"), fmt=fmt)

    monkeypatch.setattr(cli, "setup_logging", spy)
    # brokers.default stays paper: the Alpaca and ccxt clients are built but never called.
    assert cli.main(["run"]) == 1
    assert handed, "setup_logging was not called"
    for name, secret in SECRETS.items():
        assert secret in handed[0], name
