"""The tip pipeline (SPEC §2; seed 000 §1 steps 4-10): candles → indicators → scores → fusion → risk.

`generate_signal` is the one entry point the bot calls; CPU work (indicators) runs in a worker thread so
the chat stays responsive, and sentiment is fetched concurrently with it. The rules are a strategy's
(engine.strategies; `fused`, SPEC §2's, by default): a tip is its decision on the newest bar — the same
code a backtest runs over every bar.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import numpy as np

from engine import indicators
from engine.market.base import MarketData, NoData
from engine.market.resample import timeframe_seconds
from engine.market.symbols import asset_class
from engine.models import (
    AssetClass,
    Candles,
    IndicatorSnapshot,
    Recommendation,
    SentimentReading,
    Signal,
    SignalParams,
)
from engine.risk import quantize_price, stop_levels
from engine.scoring import macd_score, rsi_score, validate_params
from engine.strategies import fused, registry
from engine.strategies.base import BUY, SELL, Decisions, Strategy
from engine.strategies.levels import quoted_price
from engine.strategies.levels import to_decimal as level_decimal

# MACD(12,26,9) needs 33 bars before its first value and SMA(50) 49; 60 leaves a margin for both.
MIN_BARS = 60


class SentimentProvider(Protocol):
    async def reading(self, symbol: str, asset: AssetClass, at: datetime | None = None) -> SentimentReading:
        """Sentiment from texts published in the window before `at` (None: now, for live sources)."""
        ...


def snapshot(candles: Candles) -> IndicatorSnapshot:
    """Latest value of every indicator the tip card shows (CPU work: call it off the event loop)."""
    close, high, low = candles.close, candles.high, candles.low
    macd_line, macd_signal, macd_hist = indicators.macd(close, 12, 26, 9)
    upper, middle, lower = indicators.bollinger(close, 20, 2.0)
    values = IndicatorSnapshot(
        rsi=_last(indicators.rsi(close, 14)),
        ema_fast=_last(indicators.ema(close, 12)),
        ema_slow=_last(indicators.ema(close, 26)),
        macd=_last(macd_line),
        macd_signal=_last(macd_signal),
        macd_hist=_last(macd_hist),
        atr=_last(indicators.atr(high, low, close, 14)),
        bb_upper=_last(upper),
        bb_middle=_last(middle),
        bb_lower=_last(lower),
        sma_20=_last(indicators.sma(close, 20)),
        sma_50=_last(indicators.sma(close, 50)),
        volume_ratio=_last(indicators.volume_ratio(candles.volume, 20)),
    )
    return values


def _last(series: np.ndarray) -> float:
    return float(series[-1]) if len(series) else math.nan


def _bar_seconds(candles: Candles) -> int | None:
    try:
        return timeframe_seconds(candles.timeframe)
    except ValueError:
        return None


def to_decimal(value: float, decimals: int) -> Decimal:
    """A float price from the data feed as an exact Decimal at the symbol's tick precision."""
    return quantize_price(Decimal(repr(float(value))), decimals)


def signal_levels(recommendation: Recommendation | str, candles: Candles, values: IndicatorSnapshot,
                  sl_atr: float, tp_atr: float) -> tuple[Decimal | None, Decimal | None]:
    """SL/TP from the exact quoted price and ATR floats, rounded once to the tick (engine.risk.stop_levels):
    rounding the price and the ATR first, then the level again, moved stops by a tick."""
    return stop_levels(recommendation, quoted_price(candles), values.atr, sl_atr, tp_atr, candles.price_decimals)


async def generate_signal(
    symbol: str,
    timeframe: str,
    params: SignalParams,
    market: MarketData,
    sentiment: SentimentProvider,
    *,
    bars: int = 200,
    sl_atr: float = 2.0,
    tp_atr: float = 3.0,
    strategy: Strategy | str | None = None,
    strategy_params: Mapping[str, Any] | None = None,
) -> Signal:
    """Compute a tip for `symbol` on `timeframe` with the given thresholds and weights.

    `strategy` (a name or a Strategy; default fused) decides; `strategy_params` are its own keys for this
    tip (see `strategy_setup`). Raises `engine.market.MarketError` (unknown symbol/timeframe, no data) and
    `ValueError` (bad params, an unknown strategy), each with a message fit to show the user; parameters are
    refused before any data is fetched.
    """
    chosen = registry.resolve(strategy)
    if _builds_on_fused(chosen):
        validate_params(params.technical_weight, params.sentiment_weight, params.buy_threshold,
                        params.sell_threshold)
    strategy_setup(chosen, strategy_params, params, sl_atr, tp_atr)
    candles_task = asyncio.ensure_future(market.fetch_ohlcv(symbol, timeframe, bars))
    sentiment_task = asyncio.ensure_future(_sentiment(symbol, market, sentiment))
    try:
        candles = await candles_task
    except BaseException:
        sentiment_task.cancel()
        raise
    if len(candles) < MIN_BARS:
        sentiment_task.cancel()
        raise NoData(f"Only {len(candles)} bars of {symbol} {timeframe}; a tip needs at least {MIN_BARS}.")
    values = await asyncio.to_thread(snapshot, candles)
    reading = await sentiment_task
    return await asyncio.to_thread(build_signal, candles, values, reading, params, sl_atr=sl_atr, tp_atr=tp_atr,
                                   strategy=chosen, strategy_params=strategy_params)


async def _sentiment(symbol: str, market: MarketData, sentiment: SentimentProvider) -> SentimentReading:
    # Texts are taken up to the market's time (the replayed bar's, or now): never a headline from after it.
    return await sentiment.reading(symbol, asset_class(symbol), at=await market.as_of(symbol))


def _builds_on_fused(strategy: Strategy) -> bool:
    return strategy.name == fused.STRATEGY.name or getattr(strategy, "extends", None) == fused.STRATEGY.name


def strategy_setup(strategy: Strategy | str | None, strategy_params: Mapping[str, Any] | None,
                   params: SignalParams, sl_atr: float, tp_atr: float) -> tuple[Strategy, dict[str, Any], SignalParams]:
    """(strategy, its checked parameters, the SignalParams the tip stores).

    fused — and a strategy with `extends = "fused"` — starts from the user's thresholds and weights
    (`params`) and the risk multipliers, `strategy_params` overriding them by fused's own keys (buy, sell,
    tw, sw, macd_scale, sl_atr, tp_atr; one weight alone sets the other to 1 − it); the tip then stores the
    thresholds it used. Any other strategy reads `strategy_params` alone (its defaults fill the rest).
    Raises ValueError (one line) for an unknown strategy or a bad parameter."""
    chosen = registry.resolve(strategy)
    given = dict(strategy_params or {})
    if not _builds_on_fused(chosen):
        return chosen, chosen.check_params(given), params
    seed = fused.params_from(params, sl_atr, tp_atr)
    if ("tw" in given) != ("sw" in given):
        seed.pop("sw" if "tw" in given else "tw")
    checked = chosen.check_params({**seed, **given})
    return chosen, checked, fused.signal_params(checked) if given else params


def _newest(decisions: Decisions, key: str) -> float | None:
    series = decisions.extra.get(key)
    return None if series is None else float(series[-1])


def build_signal(
    candles: Candles,
    values: IndicatorSnapshot,
    reading: SentimentReading,
    params: SignalParams,
    *,
    sl_atr: float = 2.0,
    tp_atr: float = 3.0,
    strategy: Strategy | str | None = None,
    strategy_params: Mapping[str, Any] | None = None,
    decisions: Decisions | None = None,
) -> Signal:
    """Pure part of the pipeline: the strategy's decision on the newest bar as a tip (recommendation,
    score, levels), with the card's indicator values and the sentiment reading.

    `decisions` (the strategy's over these candles) may be passed when already computed; otherwise the
    strategy decides here, with this reading's score as the newest bar's sentiment (CPU work)."""
    if not (math.isfinite(values.rsi) and math.isfinite(values.macd_hist) and math.isfinite(values.atr)):
        raise NoData(f"Not enough bars of {candles.symbol} {candles.timeframe} to compute the indicators.")
    chosen, checked, stored_params = strategy_setup(strategy, strategy_params, params, sl_atr, tp_atr)
    sentiment_score = reading.score if reading.available else 0.0
    if decisions is None:
        sentiment = np.zeros(len(candles))
        sentiment[-1] = sentiment_score
        decisions = chosen.decide(candles, sentiment, checked)
    score, code = float(decisions.score[-1]), int(decisions.side[-1])
    if not math.isfinite(score):
        raise ValueError(f"{candles.symbol} {candles.timeframe}: the {chosen.name} strategy cannot score the newest "
                         "bar (an indicator is undefined there, e.g. ATR 0 on flat prices)")
    rec = Recommendation.BUY if code == BUY else Recommendation.SELL if code == SELL else Recommendation.HOLD
    decimals = candles.price_decimals
    bar_close = to_decimal(float(candles.close[-1]), decimals)
    price = to_decimal(quoted_price(candles), decimals)
    atr = to_decimal(values.atr, decimals + 2)  # shown on the card; the levels use the unrounded ATR
    stop, target = ((level_decimal(float(decisions.stop_loss[-1]), decimals),
                     level_decimal(float(decisions.take_profit[-1]), decimals))
                    if rec is not Recommendation.HOLD else (None, None))
    technical = _newest(decisions, "technical")
    rsi_part = _newest(decisions, "rsi_score")
    macd_part = _newest(decisions, "macd_score")
    extra: dict[str, Any] = {"strategy": chosen.name}
    if not _builds_on_fused(chosen) or strategy_params:
        extra["strategy_params"] = checked  # fused's defaults are the stored params and the risk config
    return Signal(
        symbol=candles.symbol,
        timeframe=candles.timeframe,
        recommendation=rec,
        confidence=abs(score),
        technical_score=score if technical is None else technical,
        sentiment_score=sentiment_score,
        fused_score=score,
        rsi_score=rsi_score(values.rsi) if rsi_part is None else rsi_part,
        macd_score=_display_macd(values, params) if macd_part is None else macd_part,
        price=price,
        atr=atr,
        stop_loss=stop,
        take_profit=target,
        indicators=values,
        params=stored_params,
        sentiment_available=reading.available,
        sentiment_texts=reading.texts,
        sentiment_model=reading.model,
        sentiment_sources=reading.sources,
        sentiment_unavailable=reading.unavailable,
        sentiment_newest=reading.newest,
        sentiment_as_of=reading.as_of,
        sentiment_window_hours=reading.window_hours,
        news=reading.items,
        data_source=candles.source,
        bar_time=candles.last_time,
        bar_seconds=_bar_seconds(candles),
        bar_close=bar_close if price != bar_close else None,
        session_note=candles.session_note,
        demo=candles.demo or reading.demo,
        price_decimals=decimals,
        created_at=datetime.now(UTC),
        extra={"forming_bar": candles.forming, "sentiment_source": reading.source,
               "sentiment_error": reading.error, **extra},
    )


def _display_macd(values: IndicatorSnapshot, params: SignalParams) -> float:
    """SPEC §2's MACD score for the card when the strategy has none of its own (0 when ATR is 0)."""
    try:
        return macd_score(values.macd_hist, values.atr, params.macd_scale)
    except ValueError:
        return 0.0
