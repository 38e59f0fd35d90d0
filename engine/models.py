"""The shapes of data that cross wings: candles, scores and signals. Money and prices are `Decimal`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class Recommendation(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


class AssetClass(StrEnum):
    CRYPTO = "crypto"
    STOCK = "stock"
    ETF = "etf"
    FOREX = "forex"


class Candles(BaseModel):
    """OHLCV bars, oldest first. Timestamps are bar open times in UTC epoch seconds.

    Arrays rather than rows: every consumer (indicators, resampling, charts) works on whole columns.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    symbol: str
    timeframe: str
    timestamps: np.ndarray  # int64 epoch seconds
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    source: str  # human-readable, e.g. "replay of Binance spot candles"
    demo: bool = False  # served from bundled data: must be labelled DEMO wherever shown
    forming: bool = False  # the last bar is still forming (live-like)
    price_decimals: int = 2  # the symbol's tick precision for display
    # Live sources: the last traded price (the card shows it; indicators use closed bars only) and a note
    # such as "market closed; last close 2026-11-27 16:00 ET" when the session is not open.
    last_price: float | None = None
    session_note: str | None = None

    def __len__(self) -> int:
        return int(self.close.shape[0])

    @property
    def last_time(self) -> datetime:
        from datetime import UTC

        return datetime.fromtimestamp(int(self.timestamps[-1]), tz=UTC)


class IndicatorSnapshot(BaseModel):
    """Latest values of the indicators a tip card shows (floats: these are measurements, not money)."""

    rsi: float
    ema_fast: float
    ema_slow: float
    macd: float
    macd_signal: float
    macd_hist: float
    atr: float
    bb_upper: float
    bb_middle: float
    bb_lower: float
    sma_20: float
    sma_50: float
    volume_ratio: float


class SignalParams(BaseModel):
    """Thresholds and weights a tip is computed with (user defaults, overridden per request)."""

    model_config = ConfigDict(frozen=True)

    buy_threshold: float = 0.3
    sell_threshold: float = -0.3
    technical_weight: float = 0.6
    sentiment_weight: float = 0.4
    macd_scale: str | float = "atr"


class NewsItem(BaseModel):
    """One headline or post a text source found, with when it was published (UTC)."""

    model_config = ConfigDict(frozen=True)

    text: str
    source: str  # where it came from, as shown to a user: "CoinDesk", "r/CryptoCurrency", "Reuters (bundled)"
    published: datetime
    url: str | None = None
    kind: str = "news"  # "news" (RSS, bundled headlines) or "social" (Reddit)


class ScoredText(NewsItem):
    score: float  # p(positive) - p(negative) under the model that scored it


class SentimentReading(BaseModel):
    score: float = 0.0
    available: bool = True
    texts: int = 0
    model: str = ""
    source: str = ""
    demo: bool = False
    error: str | None = None
    items: list[ScoredText] = Field(default_factory=list)  # what was scored, newest first
    sources: list[str] = Field(default_factory=list)  # the sources the scored texts came from
    unavailable: list[str] = Field(default_factory=list)  # sources that failed (e.g. "Reddit: HTTP 403")
    as_of: datetime | None = None  # the window's end: now (live) or the replayed market time
    window_hours: float = 48.0

    @property
    def newest(self) -> datetime | None:
        return max((i.published for i in self.items), default=None)


class Signal(BaseModel):
    """A trading tip: everything the tip card, storage and monitoring need."""

    id: int | None = None
    user_id: int | None = None
    symbol: str
    timeframe: str
    recommendation: Recommendation
    confidence: float
    technical_score: float
    sentiment_score: float
    fused_score: float
    rsi_score: float
    macd_score: float
    price: Decimal
    atr: Decimal
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    indicators: IndicatorSnapshot
    params: SignalParams
    sentiment_available: bool = True
    sentiment_texts: int = 0
    sentiment_model: str = ""
    sentiment_sources: list[str] = Field(default_factory=list)
    sentiment_unavailable: list[str] = Field(default_factory=list)
    sentiment_newest: datetime | None = None
    sentiment_as_of: datetime | None = None  # the end of the texts' window: the bar's time or now
    sentiment_window_hours: float = 48.0
    news: list[ScoredText] = Field(default_factory=list)  # the scored texts, newest first ([News] lists them)
    data_source: str
    bar_time: datetime  # open time of the last bar the indicators used
    bar_seconds: int | None = None  # its length, so the card can show when it closed
    bar_close: Decimal | None = None  # that bar's close, when `price` is the live last price instead
    session_note: str | None = None  # e.g. "US market closed · last close Fri 2026-11-27 16:00 ET"
    demo: bool = False
    price_decimals: int = 2
    status: str = "active"
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def reasoning(self) -> str:
        def two(value: float) -> str:
            text = f"{value:.2f}"
            return "0.00" if float(text) == 0 else text  # never "-0.00": a sign on nothing misleads

        return (
            f"Technical: {two(self.technical_score)}, Sentiment: {two(self.sentiment_score)}, "
            f"Fused: {two(self.fused_score)}"
        )
