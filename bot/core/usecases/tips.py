"""Tips: make one, find a user's own, refresh, dismiss, read its history, page through them (SPEC §2, §3)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from typing import Any

from bot.core.args import parse_id
from bot.core.context import ChatContext
from bot.core.errors import Refused, UserError
from bot.core.kernel import Core
from bot.core.usecases.paging import Page
from bot.core.usecases.strategies import chosen_strategy, strategy_params
from bot.core.usecases.track import TipRecord, tip_record
from engine.market.base import MarketError, NoData
from engine.models import Candles, Signal, SignalParams
from engine.scoring import validate_params
from engine.signals import generate_signal
from engine.strategies import registry as strategies
from engine.strategies.base import Strategy
from storage.models import HistoryEvent, User

log = logging.getLogger(__name__)

PAGE_SIZE = 10


@dataclass(frozen=True)
class TipOutcome:
    """A stored tip, or why there is none for now (stale, unavailable or too little data)."""

    symbol: str
    timeframe: str
    signal: Signal | None = None
    unavailable: str | None = None
    record: TipRecord | None = None  # the card's line on this market's past tips of the same side
    strategy: str | None = None  # the strategy asked for by name, so a [Retry] asks for it again


@dataclass(frozen=True)
class TipHistory:
    signal: Signal
    events: list[HistoryEvent]


def checked_params(core: Core, user: User, overrides: dict[str, float] | None) -> SignalParams:
    """The user's parameters with this request's overrides, refused now if they do not fit together, so a bad
    mix costs no data fetch."""
    try:
        params = core.user_params(user, overrides)
        validate_params(params.technical_weight, params.sentiment_weight, params.buy_threshold,
                        params.sell_threshold)
    except ValueError as exc:
        raise UserError(f"{exc}.") from None
    return params


_SHORT_KEYS = {"buy_threshold": "buy", "sell_threshold": "sell", "technical_weight": "tw",
               "sentiment_weight": "sw"}


def builds_on_fused(strategy: Strategy) -> bool:
    return strategy.name == "fused" or getattr(strategy, "extends", None) == "fused"


async def make_tip(core: Core, ctx: ChatContext, user: User, symbol: str, timeframe: str,
                   overrides: dict[str, float] | None = None, strategy_name: str | None = None,
                   given: dict[str, Any] | None = None) -> TipOutcome:
    """Generate and store a tip by the chosen strategy (the request's, else the user's, else config's); it is
    stored before anything is shown, so a shown tip is always monitored. Storing it supersedes the chat's other
    active tip of the same symbol and timeframe."""
    strategy = chosen_strategy(core, user, strategy_name)
    given = dict(given or {})
    if not builds_on_fused(strategy):
        # buy/sell/tw/sw are fused's: another strategy refuses them by its own key list, as any foreign key.
        given.update({_SHORT_KEYS[key]: value for key, value in (overrides or {}).items() if key in _SHORT_KEYS})
    checked = strategy_params(core, user, strategy, overrides, given)
    # The plain fused tip keeps its old shape: its parameters are the stored thresholds and the risk config.
    plain = strategy.name == "fused" and not given and not core.settings.strategies.params("fused")
    params = core.user_params(user, overrides)
    settings = core.settings
    try:
        signal = await generate_signal(
            symbol, timeframe, params, core.services.market, core.services.sentiment,
            bars=settings.market.bars, sl_atr=settings.risk.sl_atr, tp_atr=settings.risk.tp_atr,
            strategy=strategy, strategy_params=None if plain else checked,
        )
        extra = await card_extras(core, strategy.name, signal, checked)
    except NoData as exc:
        await core.source_alerts.failed(exc)
        return TipOutcome(symbol, timeframe, unavailable=str(exc), strategy=strategy_name and strategy.name)
    except MarketError as exc:
        raise UserError(str(exc)) from None
    except ValueError as exc:  # thresholds/weights that do not fit together
        raise UserError(f"{exc}.") from None
    record = await tip_record(core, signal)  # before storing: the line is about the tips before this one
    if record is not None:  # kept with the tip, so every later drawing of its card shows the same line
        extra["record"] = asdict(record)
    if extra:
        signal = signal.model_copy(update={"extra": {**signal.extra, **extra}})
    stored = await core.storage.signals.create(signal, user.id, ctx.platform, ctx.chat_id)
    log.info("tip #%s %s %s %s by %s for %s", stored.id, stored.recommendation.value, stored.symbol,
             stored.timeframe, strategy.name, user.identity)
    return TipOutcome(symbol, timeframe, signal=stored, record=record)


async def card_extras(core: Core, strategy_name: str, signal: Signal, params: dict[str, Any],
                      candles: Candles | None = None) -> dict[str, Any]:
    """What the card shows beyond the tip itself: the options strategy's contract (for the tip's side), the
    grid's level table. Both need the candles the tip was made on: given by a caller that has them (the
    monitor), else read again (the market caches them, so that is cheap). One selection for every card: a fresh
    tip's and a monitored tip's after it changed side."""
    if strategy_name not in ("options", "grid"):
        return {}
    strategy = strategies.get(strategy_name)
    if candles is None:
        candles = await core.services.market.fetch_ohlcv(signal.symbol, signal.timeframe, core.settings.market.bars)
    if strategy_name == "grid":
        from engine.strategies.grid import level_table

        # From the first bar, as the tip's decision was read: the filled levels are the ones its run holds.
        table = await asyncio.to_thread(level_table, candles, params, 0)
        return {"grid": {"anchor": str(table.anchor), "anchor_exact": repr(table.anchor_exact),
                         "spacing": table.spacing, "recentred": table.recentred,
                         "levels": [{"side": lv.side, "price": str(lv.price), "filled": lv.filled}
                                    for lv in table.levels]}}
    select_contract = getattr(strategy, "select_contract", None)
    if select_contract is None:
        return {}
    selection = await select_contract(signal.recommendation, signal.price, signal.bar_time, candles,
                                      chain_source=core.services.options, params=params)
    return {"option": selection.model_dump(mode="json")}


async def recarded(core: Core, signal: Signal, candles: Candles) -> Signal:
    """A monitored tip that changed side, with what its card shows for the new side, as a fresh card of that
    side would: the contract or grid table by `card_extras`, and the record line of the new side's past tips
    (none for HOLD). The old side's lines are dropped, never carried over."""
    extra = {key: value for key, value in signal.extra.items() if key not in ("option", "grid", "record")}
    name = str(extra.get("strategy") or "fused")
    extra.update(await card_extras(core, name, signal, dict(extra.get("strategy_params") or {}), candles))
    record = await tip_record(core, signal)
    if record is not None:
        extra["record"] = asdict(record)
    return signal.model_copy(update={"extra": extra})


async def owned_signal(core: Core, user: User, signal_id: int | str, *, owner_only: bool = False) -> Signal:
    """The user's own tip by id, or a refusal that never says whether another user's tip exists.

    Admins may read every tip; actions on a tip (`owner_only`) are its owner's alone. A text id (a button's
    argument) is parsed strictly first."""
    if isinstance(signal_id, str):
        signal_id = parse_id(signal_id, "tip")
    signal = await core.storage.signals.get(signal_id)
    if signal is None:
        raise UserError(f"No tip #{signal_id} (it may have been deleted).")
    if signal.user_id != user.id and (owner_only or user.role != "admin"):
        raise Refused(f"Tip #{signal_id} is not yours.", reason=f"foreign signal {signal_id}")
    return signal


def same_params(signal: Signal) -> dict[str, float]:
    """A tip's own thresholds and weights, so its refresh is scored as it was."""
    p = signal.params
    return {"buy_threshold": p.buy_threshold, "sell_threshold": p.sell_threshold,
            "technical_weight": p.technical_weight, "sentiment_weight": p.sentiment_weight}


async def refresh_tip(core: Core, ctx: ChatContext, user: User, signal_id: int | str) -> TipOutcome:
    """The tip made again as it was: its thresholds and weights, its strategy and that strategy's parameters."""
    old = await owned_signal(core, user, signal_id, owner_only=True)
    name = str(old.extra.get("strategy") or "fused")
    given = dict(old.extra.get("strategy_params") or {})
    overrides = same_params(old) if name == "fused" or not given else None
    return await make_tip(core, ctx, user, old.symbol, old.timeframe, overrides, name, given)


async def dismiss_tip(core: Core, user: User, signal_id: int | str) -> Signal:
    """The owner's tip, no longer monitored (dismissing twice is harmless)."""
    signal = await owned_signal(core, user, signal_id, owner_only=True)
    if signal.status == "active":
        await core.storage.signals.set_status(signal.id or 0, "dismissed", "dismissed", "Dismissed by its owner")
        await core.storage.activity.log(user.id, "signal_dismissed", f"Dismissed tip #{signal.id}")
    return signal.model_copy(update={"status": "dismissed"})


async def tip_history(core: Core, user: User, signal_id: int | str) -> TipHistory:
    signal = await owned_signal(core, user, signal_id)
    return TipHistory(signal, await core.storage.signals.history(signal.id or 0))


async def tips_page(core: Core, user: User, number: int) -> Page[Signal]:
    """A page of the user's tips, newest first; a page past the end shows the last one."""
    total = await core.storage.signals.count_for_user(user.id)
    pages = Page.count(total, PAGE_SIZE)
    number = min(max(number, 1), pages)
    items = await core.storage.signals.for_user(user.id, PAGE_SIZE, (number - 1) * PAGE_SIZE)
    return Page(items, number, pages, total)
