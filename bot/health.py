"""`tipster health`: one line per part, for a container's health check, without disturbing the running bot.

It opens the SQLite file read-only for a moment (no migration, no write, no lock a writer waits on: a WAL
reader does not block the bot), starts no server (not the metrics port), and asks no network service but
Redis, when one is configured, with a one-second timeout. Only the storage and the configuration make it
fail: a FinBERT fallback, Redis off or unreachable, no master key or no chat platform are reported and pass.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.settings import ConfigError, Settings, config_path, load_settings

REDIS_TIMEOUT = 1.0  # s


@dataclass
class Part:
    name: str
    ok: bool
    text: str
    critical: bool = False  # a failure of this part fails the check (exit 1)

    def line(self) -> str:
        return f"{self.name}: {'ok' if self.ok else 'FAILED'} · {self.text}" if self.critical else \
            f"{self.name}: {self.text}"


def check(path: str | None, db: str | None = None) -> list[Part]:
    """Every part's line; the config's failure stops there (the others cannot be known without it)."""
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        return [Part("config", False, f"invalid configuration: {exc}", critical=True)]
    if db:  # as `tipster run --db`: the flag wins over storage.sqlite_path
        settings = settings.model_copy(update={"storage": settings.storage.model_copy(update={"sqlite_path": db})})
    source = settings.source_path or config_path(path)
    shown = str(source) if source is not None else "no file (defaults and TIPSTER_* only)"
    return [
        Part("config", True, shown, critical=True),
        storage(settings.storage.sqlite_path),
        market(settings),
        news(settings),
        model(settings),
        redis(settings.storage.redis_url),
        master_key(),
        *platforms(settings),
        metrics(settings),
    ]


def storage(sqlite_path: str) -> Part:
    file = Path(sqlite_path)
    if not file.is_file():
        return Part("storage", False, f"cannot open the database {file}: no such file", critical=True)
    try:
        # Read-only and immediately closed: `mode=ro` never creates, migrates or writes the file.
        conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True, timeout=2.0)
        try:
            version = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            users = conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Part("storage", False, f"cannot open the database {file}: {exc}", critical=True)
    return Part("storage", True, f"{file} · schema {version} · {users} users", critical=True)


def market(settings: Settings) -> Part:
    cfg = settings.market
    if cfg.source != "live":
        return Part("market", True, f"replay of the bundled candles · {len(cfg.symbols)} symbols")
    alpaca = settings.brokers.alpaca
    stocks = "Alpaca data" if alpaca.key and alpaca.secret else "no stocks (brokers.alpaca keys not set)"
    return Part("market", True, f"live · ccxt {cfg.exchange} · {stocks}")


def news(settings: Settings) -> Part:
    if settings.market.source != "live":
        return Part("news", True, "the bundled dated headlines")
    cfg = settings.sentiment
    feeds = sum(len(v) for v in cfg.feeds().values())
    subs = sum(len(v) for v in cfg.reddit().values())
    return Part("news", True, f"{feeds} RSS feeds · {subs} subreddits")


def model(settings: Settings) -> Part:
    """The model `tipster run` would use, decided as it decides (engine.sentiment.registry.choose_model)."""
    from engine.sentiment.protocols import SentimentUnavailable
    from engine.sentiment.registry import choose_model

    cfg = settings.sentiment
    try:
        kind, _ = choose_model(cfg.model, cfg.finbert_path)
    except SentimentUnavailable:
        return Part("model", False, f"FinBERT configured but no weights in {cfg.finbert_path}: "
                                    "`tipster run` refuses to start (tipster download-model)")
    if kind == "finbert":
        return Part("model", True, f"FinBERT (weights in {cfg.finbert_path})")
    if cfg.model == "offline":
        return Part("model", True, "offline (bundled)")
    return Part("model", True, f"offline (FinBERT fallback: no weights in {cfg.finbert_path})")


def redis(url: str | None) -> Part:
    if not url:
        return Part("redis", True, "off (storage.redis_url not set; the cache is in the process)")
    try:
        import redis as redis_lib
    except ImportError:
        return Part("redis", False, "storage.redis_url is set but the redis package is not installed")
    try:
        client = redis_lib.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return Part("redis", False, f"unreachable ({type(exc).__name__}); the bot falls back to no shared cache")
    return Part("redis", True, "ok (PING)")


def master_key() -> Part:
    raw = os.environ.get("TIPSTER_SECRET_KEY", "")
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        return Part("master key", False, "not set (TIPSTER_SECRET_KEY): /setkeys, /keys and /delkeys are off")
    try:
        from cryptography.fernet import Fernet

        for key in keys:
            Fernet(key)
    except ImportError:
        pass
    except ValueError:
        return Part("master key", False, "TIPSTER_SECRET_KEY holds a value that is not a Fernet key")
    return Part("master key", True, f"set ({len(keys)} key{'s' if len(keys) > 1 else ''})")


def platforms(settings: Settings) -> list[Part]:
    out = [Part(name, bool(token), "token set" if token else f"off (no {name}.token)")
           for name, token in (("telegram", settings.telegram.token), ("discord", settings.discord.token))]
    if not any(p.ok for p in out):
        out.append(Part("platform", False, "none: `tipster run` needs telegram.token or discord.token"))
    return out


def metrics(settings: Settings) -> Part:
    cfg = settings.metrics
    if cfg.port is None:
        return Part("metrics", True, "off (metrics.port not set)")
    return Part("metrics", True, f"served by the running bot at http://{cfg.host}:{cfg.port}/metrics")


def report(path: str | None, db: str | None = None) -> tuple[list[str], int]:
    """The lines to print and the exit status (1 when storage or config failed)."""
    parts = check(path, db)
    failed = any(p.critical and not p.ok for p in parts)
    return [p.line() for p in parts], 1 if failed else 0
