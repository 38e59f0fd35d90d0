"""/market: parse, call the market overview use case, render the view."""

from __future__ import annotations

from bot.core.kernel import Core
from bot.core.registry import Request, registry
from bot.core.replies import Reply
from bot.core.usecases.market_overview import market_overview
from bot.core.views.market import market_reply


@registry.command("market", "price, 24 h change, RSI and your last tip per symbol", expensive=True)
async def market_cmd(core: Core, req: Request) -> list[Reply]:
    return [market_reply(await market_overview(core, req.user), core.user_tz(req.user))]
