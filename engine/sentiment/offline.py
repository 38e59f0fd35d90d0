"""The offline sentiment model: lexicon rules (rules.py) + a small logistic regression on their output.

Runs with numpy only, no network and no downloads. The regression's weights live in
data/offline_model.json, written by bench/train_offline_sentiment.py from the training part of the bundled
tweets (the held-out part is what bench/sentiment_accuracy.py reports on).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from engine.sentiment.lexicon import Lexicon, load_lexicon
from engine.sentiment.protocols import LABELS
from engine.sentiment.rules import FEATURES, score_text

MODEL_FILE = "offline_model.json"


@dataclass(frozen=True)
class LinearHead:
    """Multinomial logistic regression over log1p(rule features), classes in LABELS order."""

    coef: np.ndarray  # (3, n_features)
    intercept: np.ndarray  # (3,)

    @classmethod
    def from_json(cls, data: dict) -> LinearHead:
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{MODEL_FILE} was trained on features {data['features']}, code has {FEATURES}")
        order = [data["classes"].index(label) for label in LABELS]
        return cls(
            coef=np.asarray(data["coef"], dtype=np.float64)[order],
            intercept=np.asarray(data["intercept"], dtype=np.float64)[order],
        )

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = np.log1p(features) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


@lru_cache(maxsize=1)
def load_head() -> LinearHead:
    path = resources.files("engine.sentiment").joinpath("data").joinpath(MODEL_FILE)
    raw = path.read_text(encoding="utf-8")
    return LinearHead.from_json(json.loads(raw))


def rule_features(texts: list[str], lex: Lexicon | None = None) -> np.ndarray:
    lex = lex or load_lexicon()
    out = np.zeros((len(texts), len(FEATURES)), dtype=np.float64)
    for row, text in enumerate(texts):
        out[row] = score_text(text, lex).as_list()
    return out


class OfflineModel:
    """Financial-lexicon rules + logistic regression; thousands of texts per second on one core."""

    name = "offline"

    def __init__(self, head: LinearHead | None = None, lexicon: Lexicon | None = None) -> None:
        self._head = head or load_head()
        self._lex = lexicon or load_lexicon()

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 3) class probabilities in LABELS order (negative, neutral, positive)."""
        if not texts:
            return np.zeros((0, len(LABELS)))
        return self._head.probabilities(rule_features(texts, self._lex))

    def score(self, texts: list[str]) -> list[float]:
        p = self.probabilities(texts)
        return [float(s) for s in p[:, 2] - p[:, 0]] if len(p) else []

    def classify(self, texts: list[str]) -> list[str]:
        p = self.probabilities(texts)
        return [LABELS[int(i)] for i in p.argmax(axis=1)] if len(p) else []
