"""The answer to /reload, and the admins' note when config.watch applied an edit of the file."""

from __future__ import annotations

from bot.core.replies import Reply
from bot.core.usecases.reload import Reloaded

MAX_KEYS = 12  # keys named per line; the rest are counted


def _keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_KEYS])
    return shown + (f" and {len(keys) - MAX_KEYS} more" if len(keys) > MAX_KEYS else "")


def reloaded(result: Reloaded) -> Reply:
    how = "reloaded" if result.trigger == "command" else "changed on disk and was reloaded (config.watch)"
    if not result.ok:
        what = "not reloaded" if result.trigger == "command" else "changed on disk but was not reloaded"
        return Reply(text=f"❌ {result.path} {what}: {result.error}\nThe running configuration is unchanged.")
    if not result.applied and not result.restart:
        return Reply(text=f"✅ {result.path} {how}: nothing changed.")
    lines = [f"✅ {result.path} {how}."]
    if result.applied:
        lines.append(f"In effect now: {_keys(result.applied)}")
    if result.rebuilt:
        lines.append(f"Rebuilt: {', '.join(result.rebuilt)}")
    if result.restart:
        lines.append(f"Needs a restart (left as they were): {_keys(result.restart)}")
    return Reply(text="\n".join(lines))
