"""`tipster --config PATH health` as a container runs it: a subprocess, one line per part, exit 1 only when the
storage or the configuration fails, never disturbing a running bot (no writes, no lock, no metrics port)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from storage.store import Storage

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def health(cwd: Path, config: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIPSTER_")} | (env or {})
    return subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(config), "health", *extra], cwd=cwd,
                          env=clean, capture_output=True, text=True, timeout=60)


def lines_of(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return {line.split(":", 1)[0]: line for line in done.stdout.strip().splitlines()}


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A config copy in /etc-like folder elsewhere, with relative paths; the working directory apart."""
    etc, work = tmp_path / "etc", tmp_path / "srv"
    etc.mkdir()
    (work / "data").mkdir(parents=True)
    data: dict[str, Any] = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8")) or {}
    data.setdefault("storage", {})["sqlite_path"] = "data/tipster.sqlite"
    data.setdefault("sentiment", {}).update({"model": "auto", "finbert_path": "models/finbert"})
    (etc / "config.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return etc / "config.yaml", work


def make_db(path: Path) -> None:
    async def create() -> None:
        storage = await Storage.open(str(path))
        await storage.close()

    asyncio.run(create())


def test_healthy_with_fallbacks_exits_0(layout: tuple[Path, Path]) -> None:
    config, work = layout
    make_db(work / "data" / "tipster.sqlite")  # relative to the working directory, not to the config file
    done = health(work, config)
    assert done.returncode == 0, done.stdout
    parts = lines_of(done)
    assert parts["config"] == f"config: ok · {config}"
    assert parts["storage"].startswith("storage: ok · data/tipster.sqlite · schema ")
    assert "FinBERT fallback" in parts["model"]
    assert parts["redis"].startswith("redis: off")
    assert "TIPSTER_SECRET_KEY" in parts["master key"] and "not set" in parts["master key"]
    assert parts["telegram"] == "telegram: off (no telegram.token)" and "platform" in parts
    for name in ("market", "news", "discord", "metrics"):
        assert name in parts


def test_missing_database_fails_with_one_storage_line(layout: tuple[Path, Path]) -> None:
    config, work = layout
    make_db(config.parent / "data" / "tipster.sqlite")  # beside the config: not where the path resolves
    done = health(work, config)
    assert done.returncode == 1
    bad = [line for line in done.stdout.splitlines() if "FAILED" in line]
    assert bad == ["storage: FAILED · cannot open the database data/tipster.sqlite: no such file"]
    assert not (work / "data" / "tipster.sqlite").exists()  # health never creates it


def test_unreadable_database_fails(layout: tuple[Path, Path]) -> None:
    config, work = layout
    (work / "data" / "tipster.sqlite").write_bytes(b"this is not a database" * 100)
    done = health(work, config)
    assert done.returncode == 1
    assert lines_of(done)["storage"].startswith("storage: FAILED · cannot open the database data/tipster.sqlite:")


def test_invalid_config_fails_naming_the_key(layout: tuple[Path, Path]) -> None:
    config, work = layout
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data.setdefault("scoring", {})["buy_threshold"] = 5
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    done = health(work, config)
    assert done.returncode == 1
    assert done.stdout.strip() == ("config: FAILED · invalid configuration: scoring.buy_threshold: Input should "
                                   "be less than or equal to 1")


def test_master_key_and_platform_reported(layout: tuple[Path, Path]) -> None:
    from cryptography.fernet import Fernet

    config, work = layout
    make_db(work / "data" / "tipster.sqlite")
    keys = f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}"
    done = health(work, config, env={"TIPSTER_SECRET_KEY": keys, "TIPSTER_TELEGRAM__TOKEN": "123456:ABCDEFSECRET"})
    assert done.returncode == 0
    parts = lines_of(done)
    assert parts["master key"] == "master key: set (2 keys)"
    assert parts["telegram"] == "telegram: token set" and "platform" not in parts
    assert "ABCDEFSECRET" not in done.stdout and keys.split(",")[0] not in done.stdout


def test_never_writes_locks_or_serves(layout: tuple[Path, Path]) -> None:
    """A bot mid-write keeps its lock and commits after the check; the database's bytes are unchanged by it;
    the metrics port (held here, as the running bot would) is not opened a second time."""
    config, work = layout
    db = work / "data" / "tipster.sqlite"
    make_db(db)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        data["metrics"] = {"port": port}
        config.write_text(yaml.safe_dump(data), encoding="utf-8")
        before = hashlib.sha256(db.read_bytes()).hexdigest()
        writer = sqlite3.connect(db, timeout=0.5)
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("BEGIN IMMEDIATE")  # the running bot in the middle of a transaction
        try:
            done = health(work, config)
            assert done.returncode == 0, done.stdout
            assert lines_of(done)["metrics"] == f"metrics: served by the running bot at http://127.0.0.1:{port}/metrics"
            assert hashlib.sha256(db.read_bytes()).hexdigest() == before
            writer.execute("CREATE TABLE written_after_health (x INTEGER)")
            writer.commit()  # no lock of the check's is in the way
        finally:
            writer.close()
