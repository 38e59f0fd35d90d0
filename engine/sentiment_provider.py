"""Sentiment per symbol for the tip pipeline: texts from a source, scored by a model, cached for a while.

The cache matters because monitoring re-scores every watched symbol every cycle, and a FinBERT pass over
20 texts costs a quarter of a second on two cores.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

from engine.models import AssetClass, SentimentReading
from engine.sentiment import SentimentModel, TextSource, analyse


class CachedSentiment:
    """Implements `engine.signals.SentimentProvider` over a text source and a model, with a TTL cache."""

    def __init__(
        self,
        source: TextSource,
        model: SentimentModel,
        max_texts: int = 20,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.model = model
        self.max_texts = max_texts
        self.ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, SentimentReading]] = {}
        self._inflight: dict[str, asyncio.Future[SentimentReading]] = {}

    async def reading(self, symbol: str, asset: AssetClass, at: datetime | None = None) -> SentimentReading:
        now = self._clock()
        cached = self._cache.get(symbol)
        if cached and now - cached[0] < self.ttl:
            return cached[1]
        pending = self._inflight.get(symbol)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[SentimentReading] = asyncio.get_running_loop().create_future()
        self._inflight[symbol] = future
        try:
            result = await analyse(symbol, asset, self.source, self.model, self.max_texts)
            # Failures are not cached: the next tip tries again rather than serving "unavailable" for 5 min.
            if result.available:
                self._cache[symbol] = (self._clock(), result)
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: a lone caller must not log "exception never retrieved"
            raise
        finally:
            self._inflight.pop(symbol, None)
