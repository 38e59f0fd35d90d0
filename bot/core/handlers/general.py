"""/start, /help, /cancel and the [Cancel] button of any multi-step flow."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.access import access_message
from bot.core.permissions import Permission, allowed
from bot.core.registry import Press, Request, registry
from bot.core.replies import Reply

if TYPE_CHECKING:
    from bot.core.kernel import Core


@registry.command("start", "/start", "welcome and what I can do", permission=Permission.BASIC, group="General")
async def start(core: Core, req: Request) -> list[Reply]:
    name = req.ctx.display_name or req.ctx.username or "trader"
    demo = core.services.market.demo
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
    problem = access_message(req.user, core.now())
    lines += ["", problem or f"Your role: {req.user.role}. Tips are not financial advice."]
    # /start is how a user who blocked the bot says "send to me again" (SPEC §5).
    await core.chat_started(req.ctx)
    return [Reply(title=f"Welcome to Tipster, {name}!", text="\n".join(lines))]


@registry.command("help", "/help", "every command with its usage", permission=Permission.BASIC, group="General")
async def help_(core: Core, req: Request) -> list[Reply]:
    groups: dict[str, list[str]] = {}
    for command in registry.commands.values():
        if not allowed(req.user.role, command.permission):
            continue
        groups.setdefault(command.group, []).append(f"{command.usage} — {command.summary}")
    lines: list[str] = []
    for group, entries in groups.items():
        lines.append(f"{group}:")
        lines.extend(f"  {entry}" for entry in entries)
    lines.append("")
    lines.append("Options for /signal: buy=0.5 sell=-0.5 tw=0.7 sw=0.3 (one weight sets the other to 1 − it).")
    return [Reply(title="Commands", text="\n".join(lines))]


@registry.command("cancel", "/cancel", "end any multi-step action", permission=Permission.BASIC, group="General")
async def cancel(core: Core, req: Request) -> list[Reply]:
    ended = await core.storage.flows.end(req.user.id, req.ctx.chat_key)
    return [Reply(text="Cancelled." if ended else "Nothing to cancel.")]


@registry.button("cx", permission=Permission.BASIC)
async def cancel_button(core: Core, press: Press) -> list[Reply]:
    await core.storage.flows.end(press.user.id, press.ctx.chat_key)
    return [Reply(text="Cancelled.", edit=True, notice="Cancelled")]
