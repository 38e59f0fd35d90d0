"""`logging.format: json`: one JSON object a line, every record through the secret mask — messages,
tracebacks and stacks — from setup_logging and from `tipster run` itself."""

from __future__ import annotations

import json
import logging
import socket
from datetime import datetime
from pathlib import Path

import pytest

from bot import cli
from bot.logging_setup import settings_secrets, setup_logging
from bot.settings import ConfigError, Settings, load_settings
from tests.bot.test_logging_secrets import SECRETS, TELEGRAM, full_settings, restore_logging  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def lines_of(path: Path) -> list[dict[str, str]]:
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]  # every line parses on its own


def test_json_lines_are_masked_one_object_a_record(tmp_path: Path, restore_logging) -> None:  # noqa: F811
    path = tmp_path / "bot.log"
    setup_logging(logging.DEBUG, settings_secrets(full_settings(tmp_path)), filename=str(path), fmt="json")
    log = logging.getLogger("test.json")
    log.info("plain\nwith a newline")
    for name, secret in SECRETS.items():
        log.warning("the %s is %s", name, secret)
        try:
            raise RuntimeError(f"the server said: your {name} {secret} was rejected")
        except RuntimeError:
            log.exception("call failed")
    log.error("Unauthorized for token half %s", TELEGRAM.split(":")[1], stack_info=True)

    records = lines_of(path)
    assert len(records) == 2 + 2 * len(SECRETS)  # one line per record, the newline escaped inside it
    first = records[0]
    assert set(first) == {"time", "level", "logger", "message"}
    assert (first["level"], first["logger"], first["message"]) == ("INFO", "test.json", "plain\nwith a newline")
    assert datetime.fromisoformat(first["time"]).utcoffset() is not None
    for name, secret in SECRETS.items():
        assert secret not in path.read_text(), name
    said = [r for r in records if r["message"].startswith("the ")]
    assert [r["message"] for r in said] == [f"the {name} is <token>" if name == "telegram" else
                                            f"the {name} is <secret>" for name in SECRETS]
    failed = [r for r in records if r["message"] == "call failed"]
    assert len(failed) == len(SECRETS) and all(r["level"] == "ERROR" for r in failed)
    assert all(r["exc_info"].startswith("Traceback (most recent call last)") for r in failed)
    assert all("RuntimeError: the server said: your" in r["exc_info"] for r in failed)
    assert "<secret>" in failed[1]["exc_info"]
    last = records[-1]
    assert last["message"] == "Unauthorized for token half <secret>" and "stack_info" in last
    assert "exc_info" not in records[0]


def test_logging_format_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().logging.format == "text"
    assert load_settings(ROOT / "config.yaml").logging.format == "text"
    monkeypatch.setenv("TIPSTER_LOGGING__FORMAT", "json")
    assert load_settings(ROOT / "config.yaml").logging.format == "json"
    monkeypatch.setenv("TIPSTER_LOGGING__FORMAT", "xml")
    with pytest.raises(ConfigError, match=r"logging\.format"):
        load_settings(ROOT / "config.yaml")


def test_tipster_run_logs_json_lines_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            restore_logging) -> None:  # noqa: F811
    """`tipster run` with logging.format json: the failure to reach Telegram (closed port) is logged as JSON
    lines, each parsing, with no secret in them."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    settings = full_settings(tmp_path, f"http://127.0.0.1:{closed}/bot").model_copy(
        update={"logging": Settings().logging.model_copy(update={"format": "json"})})
    monkeypatch.setattr(cli, "load_settings", lambda *a, **k: settings)
    monkeypatch.setattr(cli, "_model_problem", lambda s: None)
    log_file = tmp_path / "cli.log"
    real = cli.setup_logging

    def to_file(level: int, secrets: list[str] | None = None, filename: str | None = None,
                fmt: str = "text") -> object:
        assert fmt == "json"
        return real(level, secrets, filename=str(log_file), fmt=fmt)

    monkeypatch.setattr(cli, "setup_logging", to_file)
    assert cli.main(["run"]) == 1
    records = lines_of(log_file)
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    text = log_file.read_text()
    for name, secret in SECRETS.items():
        assert secret not in text, name
