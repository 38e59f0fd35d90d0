"""The welcome, and /help generated from the commands' declarations: every command's usage and summary by
group, or one command's usage with a line per argument."""

from __future__ import annotations

from bot.core.args import shorten
from bot.core.registry import Command
from bot.core.replies import Reply
from bot.core.signature import Arg

SIGNAL_OPTIONS = "Options for /signal: buy=0.5 sell=-0.5 tw=0.7 sw=0.3 (one weight sets the other to 1 − it)."


def welcome_reply(name: str, demo: bool, role: str, problem: str | None) -> Reply:
    """`problem`: why the user cannot use the bot yet (pending, expired, disabled), else None."""
    lines = [
        "I turn technical indicators and news sentiment into BUY / SELL / HOLD tips with a confidence, "
        "stop-loss and take-profit.",
        "",
        "Try: /signal BTC/USDT 1h — or just /signal to pick a market.",
        "Your defaults (timeframe, thresholds, weights, timezone): /settings",
        "All commands: /help",
    ]
    if demo:
        lines += ["", "DEMO mode: prices are real historical candles replayed as a live feed, not live quotes."]
    lines += ["", problem or f"Your role: {role}. Tips are not financial advice."]
    return Reply(title=f"Welcome to Tipster, {name}!", text="\n".join(lines))


def help_reply(commands: list[Command]) -> Reply:
    """The commands a user may run, grouped in the order the groups first appear."""
    groups: dict[str, list[str]] = {}
    for command in commands:
        groups.setdefault(command.group, []).append(f"{command.usage} — {command.summary}")
    lines: list[str] = []
    for group, entries in groups.items():
        lines.append(f"{group}:")
        lines.extend(f"  {entry}" for entry in entries)
    lines += ["", SIGNAL_OPTIONS, "/help COMMAND shows one command with each of its options."]
    return Reply(title="Commands", text="\n".join(lines))


def _arg_line(arg: Arg) -> str:
    """As the usage line shows it (brackets: optional), its help, and other spellings of a keyed option."""
    also = f" (also {', '.join(f'{a}=' for a in arg.aliases)})" if arg.aliases else ""
    return f"  {arg.usage()} — {arg.help}{also}"


def command_help_reply(command: Command) -> Reply:
    lines = [command.usage, command.summary]
    args = command.signature.args
    if args:
        lines.append("")
        lines.extend(_arg_line(a) for a in args)
    return Reply(title=f"/{command.name}", text="\n".join(lines))


def unknown_command_reply(name: str) -> Reply:
    return Reply(text=f"Unknown command /{shorten(name)}. Send /help for the list of commands.")


def not_yours_reply(name: str, role: str, admin_only: bool) -> Reply:
    if admin_only:
        return Reply(text=f"/{name} is for admins only. Send /help for your commands.")
    return Reply(text=f"Your role ({role}) does not allow /{name}. Send /help for your commands.")
