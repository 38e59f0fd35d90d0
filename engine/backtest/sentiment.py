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


def bar_sentiment(symbol: str, asset: AssetClass, timestamps: np.ndarray, model: SentimentModel, *,
                  max_texts: int = 20, max_age_hours: float = 48.0) -> BarSentiment:
    """Per-bar sentiment for bars opening at `timestamps` (epoch seconds). Blocking (reads the bundled CSVs,
    runs the model): call it off the event loop."""
    n = len(timestamps)
    scores = np.zeros(n)
    if n == 0 or max_texts <= 0:
        return BarSentiment(scores, 0, 0, model.name)
    first = datetime.fromtimestamp(int(timestamps[0]), UTC)
    last = datetime.fromtimestamp(int(timestamps[-1]), UTC)
    span_hours = (last - first).total_seconds() / 3600 + max_age_hours
    everything = DatedHeadlines(window_hours=span_hours).items_in(symbol, asset, last)
    if not everything:
        return BarSentiment(scores, 0, 0, model.name)
    everything.sort(key=lambda item: item.published)
    published = np.array([item.published.timestamp() for item in everything])
    window = timedelta(hours=max_age_hours).total_seconds()
    lo = np.searchsorted(published, timestamps.astype(float) - window, side="left")
    hi = np.searchsorted(published, timestamps.astype(float), side="right")
    score_of: dict[str, float] = {}
    picks: list[list[NewsItem]] = [[] for _ in range(n)]
    for i in np.nonzero(hi > lo)[0]:
        at = datetime.fromtimestamp(int(timestamps[i]), UTC)
        picks[i] = select(everything[lo[i]:hi[i]], symbol, at, max_texts, max_age_hours)
        for item in picks[i]:
            score_of.setdefault(text_key(item.text), math.nan)
    unscored = [k for k, v in score_of.items() if math.isnan(v)]
    texts_by_key = {text_key(item.text): item.text for item in everything}
    if unscored:
        for key, value in zip(unscored, model.score([texts_by_key[k] for k in unscored]), strict=True):
            score_of[key] = float(value)
    with_news = 0
    for i, chosen in enumerate(picks):
        if chosen:
            with_news += 1
            mean = math.fsum(score_of[text_key(item.text)] for item in chosen) / len(chosen)
            scores[i] = max(-1.0, min(1.0, mean))
    return BarSentiment(scores, with_news, len(score_of), model.name)
