"""Sentiment wing: scores a symbol's recent, dated texts in [-1, 1].

Public API:
- SentimentModel / NewsSource: the protocols models and news sources follow;
- get_model(name): "offline" (bundled lexicon + logistic regression, numpy only), "finbert" (local
  transformers weights), "auto" (FinBERT when its weights are on disk, else offline);
- RssSource, RedditSource: live news and posts per asset class; DatedHeadlines: the bundled dated
  headlines for replay (DEMO);
- select(...) / collect(...): the one rule choosing which texts are scored (age window, the asset's own
  first, de-duplicated, capped), for every source;
- analyse(...): the mean score of those texts as a SentimentReading, never raising.
"""

from __future__ import annotations

from engine.sentiment.analyse import ScoreMemo, analyse
from engine.sentiment.collect import Collected, collect, select
from engine.sentiment.dated import DatedHeadlines
from engine.sentiment.offline import OfflineModel
from engine.sentiment.protocols import LABELS, NewsSource, SentimentModel, SentimentUnavailable
from engine.sentiment.reddit import RedditSource
from engine.sentiment.registry import MODEL_NAMES, clear_model_cache, get_model
from engine.sentiment.rss import RssSource

__all__ = [
    "LABELS",
    "MODEL_NAMES",
    "Collected",
    "DatedHeadlines",
    "NewsSource",
    "OfflineModel",
    "RedditSource",
    "RssSource",
    "ScoreMemo",
    "SentimentModel",
    "SentimentUnavailable",
    "analyse",
    "clear_model_cache",
    "collect",
    "get_model",
    "select",
]

