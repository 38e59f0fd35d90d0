"""Turn a symbol's recent texts into one SentimentReading; never raises for a failing source or model.

score = mean over the selected texts of the model's p(positive) − p(negative), clipped to [-1, 1].
Degraded states, as the card shows them:
- no texts in the window: score 0.0, available (there was simply no news in the hours before the bar);
- some sources failed: scored from the others, each failure in `unavailable`;
- every source failed, or the model failed: score 0.0, available=False, a one-line `error`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime

from engine.models import AssetClass, ScoredText, SentimentReading
from engine.sentiment.collect import collect, utc
from engine.sentiment.protocols import NewsSource, SentimentModel

log = logging.getLogger(__name__)


class ScoreMemo:
    """A bounded LRU of text -> score for one model: monitoring re-reads the same headlines every cycle.

    Only touched on the event loop (lookups before the worker thread starts, stores after it ends).
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._scores: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._scores)

    def get(self, text: str) -> float | None:
        score = self._scores.get(text)
        if score is not None:
            self._scores.move_to_end(text)
        return score

    def put(self, text: str, score: float) -> None:
        self._scores[text] = score
        self._scores.move_to_end(text)
        while len(self._scores) > self.max_entries:
            self._scores.popitem(last=False)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]


async def score_texts(model: SentimentModel, texts: list[str], memo: ScoreMemo | None = None) -> list[float]:
    """The model's score per text, the memo's where it has one; scoring runs in a worker thread."""
    known = {t: s for t in texts if memo is not None and (s := memo.get(t)) is not None}
    missing = list(dict.fromkeys(t for t in texts if t not in known))
    if missing:
        # CPU-bound (FinBERT: ~0.25 s per 20 texts): keep it off the event loop.
        fresh = await asyncio.to_thread(model.score, missing)
        if len(fresh) != len(missing):
            raise ValueError(f"model returned {len(fresh)} scores for {len(missing)} texts")
        for text, value in zip(missing, fresh, strict=True):
            value = float(value)
            if not math.isfinite(value):
                raise ValueError("model returned a non-finite score")
            known[text] = value
            if memo is not None:
                memo.put(text, value)
    return [known[t] for t in texts]


def describe(names: Sequence[str]) -> str:
    return " + ".join(dict.fromkeys(names))


async def analyse(symbol: str, asset: AssetClass, sources: Sequence[NewsSource], model: SentimentModel, *,
                  max_texts: int, max_age_hours: float, at: datetime | None = None,
                  memo: ScoreMemo | None = None) -> SentimentReading:
    """The reading for `symbol` at `at` (None: now) from the texts of the window [at − max_age_hours, at]."""
    end = utc(at) if at is not None else datetime.now(UTC)
    queried = [str(getattr(s, "name", type(s).__name__)) for s in sources]
    meta = {"model": str(getattr(model, "name", "")), "as_of": end, "window_hours": max_age_hours}
    try:
        found = await collect(symbol, asset, end, sources, max_texts, max_age_hours)
    except Exception as exc:  # collect catches each source's failure; this is a bug's last line of defence
        log.warning("sentiment for %s unavailable: %s", symbol, _one_line(exc))
        return SentimentReading(score=0.0, available=False, error=_one_line(exc), source=describe(queried),
                                **meta)
    common = {**meta, "source": describe(found.answered or queried), "demo": found.demo,
              "unavailable": found.unavailable}
    if sources and not found.answered:
        error = "no news source answered: " + "; ".join(found.unavailable)
        log.warning("sentiment for %s unavailable: %s", symbol, error)
        return SentimentReading(score=0.0, available=False, error=error[:300], **common)
    if found.unavailable:
        log.info("sentiment for %s without %s", symbol, "; ".join(found.unavailable))
    if not found.items:
        return SentimentReading(score=0.0, available=True, texts=0, **common)
    try:
        scores = await score_texts(model, [i.text for i in found.items], memo)
    except Exception as exc:  # the reading must degrade, not break the tip
        log.warning("sentiment model failed for %s: %s", symbol, _one_line(exc))
        return SentimentReading(score=0.0, available=False, error=_one_line(exc), **common)
    mean = math.fsum(scores) / len(scores)
    scored = [ScoredText(**item.model_dump(), score=s) for item, s in zip(found.items, scores, strict=True)]
    scored.sort(key=lambda i: i.published, reverse=True)  # select() put the asset's own first; the card lists by age
    return SentimentReading(score=max(-1.0, min(1.0, mean)), available=True, texts=len(scored), items=scored,
                            sources=list(dict.fromkeys(i.source for i in scored)), **common)
