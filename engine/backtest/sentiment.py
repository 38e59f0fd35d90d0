"""Sentiment for every bar of a backtest, by the same rule a live tip reads it (engine.sentiment.analyse):
at each bar's time, the texts `collect.select` picks from the window [t − max_age, t] (the asset's own
first, at most `max_texts`), scored by the model, averaged and clipped to [-1, 1]; a bar with no text in its
window reads 0, as a live tip with no news does.

The bundled dated headlines are the source (a backtest replays history; live feeds have no past). Each
distinct text is scored once, whatever the number of windows it falls in, so a year of hourly bars costs
one model pass over the period's headlines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from engine.models import AssetClass, NewsItem
from engine.sentiment.collect import select, text_key
from engine.sentiment.dated import DatedHeadlines
from engine.sentiment.protocols import SentimentModel


@dataclass(frozen=True)
class BarSentiment:
    scores: np.ndarray  # per bar, in [-1, 1]; 0 where the window held no text
    bars_with_news: int  # bars whose window held at least one text
    texts: int  # distinct texts scored
    model: str


@dataclass
class SentimentPlan:
    """The texts each bar reads, chosen; their scores to come. `unscored` is every distinct text once, to be
    scored in as many batches as the caller likes (a long run reports progress and can stop between them)."""

    n: int
    model: str
    picks: list[list[str]]  # per bar, the keys of the texts its window chose
    unscored: list[str]  # the distinct texts, in order
    keys: list[str]  # their keys, in the same order

    def finish(self, scores: Sequence[float]) -> BarSentiment:
        """`scores` are the model's, one per `unscored` text in order."""
        if len(scores) != len(self.unscored):
            raise ValueError(f"{len(scores)} scores for {len(self.unscored)} texts")
        score_of = dict(zip(self.keys, (float(v) for v in scores), strict=True))
        out = np.zeros(self.n)
        with_news = 0
        for i, chosen in enumerate(self.picks):
            if chosen:
                with_news += 1
                mean = math.fsum(score_of[key] for key in chosen) / len(chosen)
                out[i] = max(-1.0, min(1.0, mean))
        return BarSentiment(out, with_news, len(self.keys), self.model)


def plan_bar_sentiment(symbol: str, asset: AssetClass, timestamps: np.ndarray, model_name: str, *,
                       max_texts: int = 20, max_age_hours: float = 48.0) -> SentimentPlan:
    """Which texts each bar opening at `timestamps` (epoch seconds) reads. Blocking (reads the bundled CSVs):
    call it off the event loop."""
    n = len(timestamps)
    empty = SentimentPlan(n, model_name, [[] for _ in range(n)], [], [])
    if n == 0 or max_texts <= 0:
        return empty
    first = datetime.fromtimestamp(int(timestamps[0]), UTC)
    last = datetime.fromtimestamp(int(timestamps[-1]), UTC)
    span_hours = (last - first).total_seconds() / 3600 + max_age_hours
    everything = DatedHeadlines(window_hours=span_hours).items_in(symbol, asset, last)
    if not everything:
        return empty
    everything.sort(key=lambda item: item.published)
    published = np.array([item.published.timestamp() for item in everything])
    window = timedelta(hours=max_age_hours).total_seconds()
    lo = np.searchsorted(published, timestamps.astype(float) - window, side="left")
    hi = np.searchsorted(published, timestamps.astype(float), side="right")
    text_of: dict[str, str] = {}  # key → text, in first-seen order
    picks: list[list[str]] = [[] for _ in range(n)]
    for i in np.nonzero(hi > lo)[0]:
        at = datetime.fromtimestamp(int(timestamps[i]), UTC)
        chosen: list[NewsItem] = select(everything[lo[i]:hi[i]], symbol, at, max_texts, max_age_hours)
        picks[i] = [text_key(item.text) for item in chosen]
        for item in chosen:
            text_of.setdefault(text_key(item.text), item.text)
    return SentimentPlan(n, model_name, picks, list(text_of.values()), list(text_of))


def bar_sentiment(symbol: str, asset: AssetClass, timestamps: np.ndarray, model: SentimentModel, *,
                  max_texts: int = 20, max_age_hours: float = 48.0) -> BarSentiment:
    """Per-bar sentiment for bars opening at `timestamps` (epoch seconds), in one model pass. Blocking (reads
    the bundled CSVs, runs the model): call it off the event loop."""
    plan = plan_bar_sentiment(symbol, asset, timestamps, model.name, max_texts=max_texts,
                              max_age_hours=max_age_hours)
    return plan.finish(list(model.score(plan.unscored)) if plan.unscored else [])
