"""The /notify answer: every alert kind of this chat with its state, and what each state means."""

from __future__ import annotations

from bot.core.replies import Reply
from bot.core.usecases.notify import NotifyStates

# What each /notify word covers, as a user would say it.
KIND_HELP: dict[str, str] = {
    "status": "a monitored tip changed its recommendation",
    "exits": "positions closed at stop or target, near target, big moves",
    "scans": "tips of the markets this chat watches",
    "summaries": "the daily summary",
    "announcements": "messages from the bot's admins",
}
STATE_MARK = {"on": "🔔 on", "silent": "🔕 silent", "off": "✖ off"}


def notify_reply(result: NotifyStates) -> Reply:
    where = "this group" if result.group else "this chat"
    lines = [f"{kind}: {STATE_MARK[state]} — {KIND_HELP.get(kind, kind)}" for kind, state in result.states.items()]
    title = f"Notifications in {where}"
    head = []
    if result.changed is not None:
        head = [f"{result.changed} is now {result.states[result.changed]} in {where}.", ""]
    foot = ["", "Change one: /notify KIND on|silent|off (silent: sent without sound; off: not sent)."]
    return Reply(title=title, text="\n".join(head + lines + foot))
