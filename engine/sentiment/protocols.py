"""The contracts of the sentiment wing: what a model and a text source look like, and the one error."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from engine.models import AssetClass, NewsItem

# Class order shared by every model: index 0 is negative, 2 is positive (score = p[2] - p[0]).
LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")


class SentimentUnavailable(RuntimeError):
    """A model was asked for but cannot be used here (e.g. FinBERT without weights on disk)."""


@runtime_checkable
class SentimentModel(Protocol):
    name: str

    def score(self, texts: list[str]) -> list[float]:
        """One score per text in [-1, 1]: p(positive) - p(negative) or the model's equivalent."""
        ...

    def classify(self, texts: list[str]) -> list[str]:
        """One of "positive", "negative", "neutral" per text."""
        ...


@runtime_checkable
class NewsSource(Protocol):
    """Where dated texts come from: RSS feeds, Reddit, or the bundled dated headlines (replay).

    `fetch_items` returns every item it found for the symbol's asset class that was published at or before
    `at` (up to 10 per feed, any order); choosing among them (age window, the asset's own items first,
    de-duplication, the cap) is `engine.sentiment.collect.select`'s job, so every source obeys one rule.
    A failure raises `engine.fetching.SourceError`, whose message says which source and why.
    """

    name: str  # shown on the card and in /health: "RSS", "Reddit", "bundled headlines"
    demo: bool  # True for bundled data: a tip that uses it is labelled DEMO

    async def fetch_items(self, symbol: str, asset: AssetClass, at: datetime) -> list[NewsItem]: ...
