"""Sentiment wing: scores a symbol's recent texts in [-1, 1].

Public API:
- SentimentModel / TextSource: the protocols models and text sources follow;
- get_model(name): "offline" (bundled lexicon + logistic regression, numpy only), "finbert" (local
  transformers weights), "auto" (FinBERT when its weights are on disk, else offline);
- BundledHeadlines: a DEMO source of real headlines shipped with the project;
- analyse(...): the mean score of a symbol's texts as a SentimentReading, never raising.
"""

from engine.sentiment.analyse import analyse
from engine.sentiment.headlines import BundledHeadlines
from engine.sentiment.offline import OfflineModel
from engine.sentiment.protocols import LABELS, SentimentModel, SentimentUnavailable, TextSource
from engine.sentiment.registry import MODEL_NAMES, clear_model_cache, get_model

__all__ = [
    "LABELS",
    "MODEL_NAMES",
    "BundledHeadlines",
    "OfflineModel",
    "SentimentModel",
    "SentimentUnavailable",
    "TextSource",
    "analyse",
    "clear_model_cache",
    "get_model",
]
