"""/reload and config.watch (SPEC §6): read the config file again and apply what can change while running.

An invalid file changes nothing: the error names the offending key and the running configuration stays.
Intervals, thresholds, symbols, feeds, limits and the like apply at once (jobs are rescheduled, the market and
news sources rebuilt by the composition root when their own settings changed); what is wired once at start —
tokens, the chat platforms, the storage path, brokers and their keys, the metrics server — is reported as
needing a restart and left as it was. Every reload is audited.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from bot.core.errors import Refused
from bot.core.kernel import Core
from bot.settings import ConfigError, Settings, load_settings
from storage.models import User

log = logging.getLogger(__name__)

# Keys (or whole sections) wired once at start-up: a change is reported and waits for a restart.
RESTART_ONLY = (
    "telegram", "discord", "storage", "brokers", "paper", "metrics", "logging",
    "alerts.max_in_flight", "sentiment.model", "sentiment.finbert_path",
)
# The intervals the scheduler reads: a change reschedules the jobs.
INTERVALS = ("monitor.signals_interval", "monitor.scan_interval", "monitor.positions_interval",
             "config.watch_interval")
Trigger = Literal["command", "watch"]


class Rebuild(Protocol):
    """The composition root's part of a reload (bot.config_reload.AppReloader.rebuild): build the market data
    and news sources again for `new` when `changed` touches their settings; return what it rebuilt. It raises
    ConfigError when a part cannot be built from the new settings (nothing is then applied)."""

    def __call__(self, core: Core, new: Settings, changed: list[str]) -> Awaitable[list[str]]: ...


class ConfigReloader:
    """The file the process started from, and how to read it again (`core.reloader`)."""

    def __init__(self, path: Path | None, rebuild: Rebuild | None = None,
                 load: Callable[[Path], Settings] = load_settings) -> None:
        self.path = path
        self.rebuild = rebuild
        self._load = load
        self.lock = asyncio.Lock()  # /reload and the watcher never apply two files at once
        self.last_read: Settings | None = None  # the file's settings at the last valid read
        self.seen = self.fingerprint()  # the file's content as last read (config.watch compares with it)

    def fingerprint(self) -> str | None:
        """A hash of the file's bytes (None when it cannot be read): what config.watch polls."""
        if self.path is None:
            return None
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None

    def load(self) -> Settings:
        self.seen = self.fingerprint()
        assert self.path is not None
        return self._load(self.path)


@dataclass
class Reloaded:
    path: str
    trigger: Trigger
    error: str | None = None  # why the file was refused; the running configuration is unchanged
    applied: list[str] = field(default_factory=list)  # changed keys now in effect
    restart: list[str] = field(default_factory=list)  # changed keys left as they were until a restart
    rebuilt: list[str] = field(default_factory=list)  # parts built again (market data, news sources, ...)

    @property
    def ok(self) -> bool:
        return self.error is None


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ (mappings compared key by key, anything else as a whole)."""
    if isinstance(old, dict) and isinstance(new, dict) and not _is_free_mapping(prefix):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            here = f"{prefix}.{key}" if prefix else str(key)
            out += changed_keys(old.get(key), new.get(key), here)
        return out
    return [] if old == new else [prefix]


def _is_free_mapping(key: str) -> bool:
    """Mappings whose keys are data, not settings (feeds per asset class, routes, a strategy's params)."""
    return key in ("market.routes", "sentiment.rss_feeds", "sentiment.subreddits") or key.startswith("strategies.")


def needs_restart(key: str) -> bool:
    return any(key == r or key.startswith(r + ".") for r in RESTART_ONLY)


def keep_running(old: Settings, new: Settings, keys: list[str]) -> Settings:
    """`new` with each of `keys` (a section, or section.key) set back to its running value in `old`."""
    for key in keys:
        section, _, leaf = key.partition(".")
        if not leaf:
            new = new.model_copy(update={section: getattr(old, section)})
        else:
            inner = getattr(new, section).model_copy(update={leaf: getattr(getattr(old, section), leaf)})
            new = new.model_copy(update={section: inner})
    return new


def _restart_roots(keys: list[str]) -> list[str]:
    """The RESTART_ONLY entries the changed keys fall under (whole sections put back whole)."""
    roots = []
    for key in keys:
        for root in RESTART_ONLY:
            if (key == root or key.startswith(root + ".")) and root not in roots:
                roots.append(root)
    return roots


async def reload_config(core: Core, actor: User | None, trigger: Trigger = "command") -> Reloaded:
    """Read the file again and apply it; the result says what changed, what waits for a restart, or why
    nothing did."""
    reloader: ConfigReloader | None = core.reloader
    if reloader is None or reloader.path is None:
        raise Refused("There is no config file to reload: the bot started without --config, TIPSTER_CONFIG "
                      "or a ./config.yaml.", reason="no config file")
    async with reloader.lock:
        return await _reload(core, reloader, actor, trigger)


async def _reload(core: Core, reloader: ConfigReloader, actor: User | None, trigger: Trigger) -> Reloaded:
    result = Reloaded(str(reloader.path), trigger)
    try:
        new = await asyncio.to_thread(reloader.load)  # file and validation off the event loop
    except ConfigError as exc:
        result.error = str(exc)
        log.warning("config reload (%s) refused: %s", trigger, exc)
        await core.audit(actor, "reload", result.path, "failed", trigger=trigger, error=result.error)
        return result
    old = core.settings
    # `tipster demo` makes the person at the terminal an admin in-process; a reload must not take that away.
    pinned = [a for a in old.admins if a.startswith("console:") and a not in new.admins]
    if pinned:
        new = new.model_copy(update={"admins": [*new.admins, *pinned]})
    keys = changed_keys(old.model_dump(mode="json"), new.model_dump(mode="json"))
    result.applied = [k for k in keys if not needs_restart(k)]
    merged = keep_running(old, new, _restart_roots([k for k in keys if needs_restart(k)]))
    # Reported as waiting for a restart: what the file changed since it was last read (the first time: what
    # differs from the running value), so a value the process set itself (`--db`) is not named every time.
    reference = reloader.last_read or old
    result.restart = [k for k in changed_keys(reference.model_dump(mode="json"), new.model_dump(mode="json"))
                      if needs_restart(k)]
    try:
        if reloader.rebuild is not None and result.applied:
            result.rebuilt = await reloader.rebuild(core, merged, result.applied)
    except ConfigError as exc:
        result.error, result.applied, result.restart = str(exc), [], []
        await core.audit(actor, "reload", result.path, "failed", trigger=trigger, error=result.error)
        return result
    core.services.settings = merged
    reloader.last_read = new
    if any(k.startswith("limits.") for k in result.applied):
        core.limiter.per_minute = merged.limits.per_user_per_minute  # the recent hits still count
    if core.scheduler is not None and any(k in INTERVALS for k in result.applied):
        core.scheduler.reschedule()
        result.rebuilt.append("job intervals")
    log.info("config reloaded (%s) from %s: applied %s; needs a restart %s", trigger, result.path,
             ", ".join(result.applied) or "nothing", ", ".join(result.restart) or "nothing")
    await core.audit(actor, "reload", result.path, "ok", trigger=trigger, applied=result.applied,
                     restart=result.restart, rebuilt=result.rebuilt)
    return result
