"""Sentiment per symbol for the tip pipeline: dated texts from the news sources, scored by a model, cached.

The cache matters because monitoring re-reads every watched symbol every cycle, and a FinBERT pass over 20
texts costs a quarter of a second on two cores. Live readings (at=None) are cached per symbol for `ttl`;
replayed ones per symbol and market minute, so a replay moving through time keeps getting the news of its
own window. Concurrent requests for one key share one fetch; failed readings are not cached, so the next
tip tries the sources again instead of serving "unavailable" for five minutes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from engine.cache import Cache, MemoryCache, SingleFlight
from engine.models import AssetClass, SentimentReading
from engine.sentiment.analyse import ScoreMemo, analyse
from engine.sentiment.collect import utc
from engine.sentiment.protocols import NewsSource, SentimentModel

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class CachedSentiment:
    """Implements `engine.signals.SentimentProvider` over news sources and a model, through a Cache."""

    def __init__(self, sources: Sequence[NewsSource], model: SentimentModel, *, max_texts: int = 20,
                 max_age_hours: float = 48.0, ttl: float = 300.0, cache: Cache | None = None,
                 clock: Callable[[], datetime] = _now) -> None:
        self.sources = list(sources)
        self.model = model
        self.max_texts = max_texts
        self.max_age_hours = max_age_hours
        self.ttl = ttl
        self.cache: Cache = cache if cache is not None else MemoryCache()
        self._clock = clock
        self._flight: SingleFlight[SentimentReading] = SingleFlight()
        self._memo = ScoreMemo()
        self._health: dict[str, tuple[str | None, datetime]] = {}  # source -> (last error or None, since)

    @staticmethod
    def key(symbol: str, at: datetime | None) -> str:
        if at is None:
            return f"sentiment:{symbol}"
        return f"sentiment:{symbol}:{utc(at):%Y-%m-%dT%H:%M}"

    async def reading(self, symbol: str, asset: AssetClass, at: datetime | None = None) -> SentimentReading:
        key = self.key(symbol, at)
        cached = await self._get(key)
        if cached is not None:
            return cached
        # A replayed reading is computed at the start of its minute: every caller sharing the key then gets
        # only texts published by then, never one from later in the minute.
        end = self._clock() if at is None else utc(at).replace(second=0, microsecond=0)
        return await self._flight.run(key, lambda: self._produce(key, symbol, asset, end))

    async def _produce(self, key: str, symbol: str, asset: AssetClass, at: datetime) -> SentimentReading:
        result = await analyse(symbol, asset, self.sources, self.model, max_texts=self.max_texts,
                               max_age_hours=self.max_age_hours, at=at, memo=self._memo)
        self._note_health(result)
        if result.available:
            try:
                await self.cache.set(key, result.model_dump_json().encode(), self.ttl)
            except Exception as exc:  # a cache outage costs speed, not the reading
                log.warning("sentiment cache (%s) set failed: %s", self.cache.name, exc)
        return result

    def _note_health(self, result: SentimentReading) -> None:
        """What /health shows per source: ok, or the last failure and when it began."""
        failed = {line.split(":", 1)[0].strip(): line for line in result.unavailable}
        if not result.available and result.error:
            failed = failed or {name: result.error for name in self._source_names()}
        stamp = self._clock()
        for name in self._source_names():
            if name in failed:
                previous = self._health.get(name)
                since = previous[1] if previous is not None and previous[0] is not None else stamp
                self._health[name] = (failed[name], since)
            else:
                self._health[name] = (None, stamp)

    def _source_names(self) -> list[str]:
        return [str(getattr(source, "name", type(source).__name__)) for source in self.sources]

    def status(self) -> dict[str, str]:
        """One line per news source for /health: configured, ok at a time, or degraded since a time."""
        out: dict[str, str] = {}
        for name in self._source_names():
            error, since = self._health.get(name, (None, None))
            if since is None:
                out[name] = "not asked yet"
            elif error is None:
                out[name] = f"ok (last answer {since:%H:%M} UTC)"
            else:
                out[name] = f"degraded since {since:%H:%M} UTC: {error}"
        return out

    async def _get(self, key: str) -> SentimentReading | None:
        try:
            raw = await self.cache.get(key)
        except Exception as exc:
            log.warning("sentiment cache (%s) get failed: %s", self.cache.name, exc)
            return None
        if raw is None:
            return None
        try:
            return SentimentReading.model_validate_json(raw)
        except ValidationError:  # written by another version, or corrupted: recompute
            return None
