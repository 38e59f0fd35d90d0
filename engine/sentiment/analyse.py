"""Turn a symbol's recent texts into one SentimentReading; never raises for a failing source or model."""

from __future__ import annotations

import asyncio
import logging
import math

from engine.models import AssetClass, SentimentReading
from engine.sentiment.protocols import SentimentModel, TextSource

log = logging.getLogger(__name__)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]


async def analyse(
    symbol: str, asset: AssetClass, source: TextSource, model: SentimentModel, max_texts: int
) -> SentimentReading:
    """Mean model score over up to `max_texts` texts from `source`.

    Any failure (source down, model error, no texts) gives score 0.0 with available=False and a one-line
    error, so a tip can still be made from the technical side alone.
    """
    meta = {
        "model": str(getattr(model, "name", "")),
        "source": str(getattr(source, "name", "")),
        "demo": bool(getattr(source, "demo", False)),
    }
    try:
        texts = [t for t in await source.fetch_texts(symbol, asset, max_texts) if t and t.strip()]
        texts = texts[:max_texts]
        if not texts:
            return SentimentReading(score=0.0, available=False, error=f"no texts found for {symbol}", **meta)
        # Scoring is CPU-bound (FinBERT: ~0.25 s per batch): keep it off the event loop.
        scores = await asyncio.to_thread(model.score, texts)
        if len(scores) != len(texts):
            raise ValueError(f"model returned {len(scores)} scores for {len(texts)} texts")
        mean = math.fsum(scores) / len(scores)
        if not math.isfinite(mean):
            raise ValueError("model returned a non-finite score")
        return SentimentReading(score=max(-1.0, min(1.0, mean)), available=True, texts=len(texts), **meta)
    except Exception as exc:  # the reading must degrade, not break the tip
        log.warning("sentiment for %s unavailable: %s", symbol, _one_line(exc))
        return SentimentReading(score=0.0, available=False, error=_one_line(exc), **meta)
