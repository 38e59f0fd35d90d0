"""The contracts of the sentiment wing: what a model and a text source look like, and the one error."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from engine.models import AssetClass

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
class TextSource(Protocol):
    name: str
    demo: bool

    async def fetch_texts(self, symbol: str, asset: AssetClass, limit: int) -> list[str]:
        """Up to `limit` recent texts (headlines, posts) about `symbol`."""
        ...
