"""The tip pipeline (SPEC §2; seed 000 §1 steps 4-10): candles → indicators → scores → fusion → risk.

`generate_signal` is the one entry point the bot calls; CPU work (indicators) runs in a worker thread so
the chat stays responsive, and sentiment is fetched concurrently with it.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

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
from engine.scoring import fuse, macd_score, rsi_score, technical_score, validate_params

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


def quoted_price(candles: Candles) -> float:
    """The price a tip is quoted at, unrounded: live sources compute on closed bars but quote the last trade
    (a trader acts on the price now); otherwise the last close."""
    live = candles.last_price
    return live if live is not None and math.isfinite(live) and live > 0 else float(candles.close[-1])


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
) -> Signal:
    """Compute a tip for `symbol` on `timeframe` with the given thresholds and weights.

    Raises `engine.market.MarketError` (unknown symbol/timeframe, no data) and `ValueError` (bad params),
    each with a message fit to show the user.
    """
    validate_params(params.technical_weight, params.sentiment_weight, params.buy_threshold,
                    params.sell_threshold)
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
    return build_signal(candles, values, reading, params, sl_atr=sl_atr, tp_atr=tp_atr)


async def _sentiment(symbol: str, market: MarketData, sentiment: SentimentProvider) -> SentimentReading:
    # Texts are taken up to the market's time (the replayed bar's, or now): never a headline from after it.
    return await sentiment.reading(symbol, asset_class(symbol), at=await market.as_of(symbol))


def build_signal(
    candles: Candles,
    values: IndicatorSnapshot,
    reading: SentimentReading,
    params: SignalParams,
    *,
    sl_atr: float = 2.0,
    tp_atr: float = 3.0,
) -> Signal:
    """Pure part of the pipeline: scores, fusion and risk levels from already computed inputs."""
    if not (math.isfinite(values.rsi) and math.isfinite(values.macd_hist) and math.isfinite(values.atr)):
        raise NoData(f"Not enough bars of {candles.symbol} {candles.timeframe} to compute the indicators.")
    sentiment_score = reading.score if reading.available else 0.0
    tech = technical_score(values.rsi, values.macd_hist, values.atr, params.macd_scale)
    fusion = fuse(tech, sentiment_score, params.technical_weight, params.sentiment_weight,
                  params.buy_threshold, params.sell_threshold)
    decimals = candles.price_decimals
    bar_close = to_decimal(float(candles.close[-1]), decimals)
    price = to_decimal(quoted_price(candles), decimals)
    atr = to_decimal(values.atr, decimals + 2)  # shown on the card; the levels use the unrounded ATR
    stop, target = signal_levels(fusion.recommendation, candles, values, sl_atr, tp_atr)
    return Signal(
        symbol=candles.symbol,
        timeframe=candles.timeframe,
        recommendation=Recommendation(fusion.recommendation),
        confidence=fusion.confidence,
        technical_score=tech,
        sentiment_score=sentiment_score,
        fused_score=fusion.fused,
        rsi_score=rsi_score(values.rsi),
        macd_score=macd_score(values.macd_hist, values.atr, params.macd_scale),
        price=price,
        atr=atr,
        stop_loss=stop,
        take_profit=target,
        indicators=values,
        params=params,
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
               "sentiment_error": reading.error},
    )
