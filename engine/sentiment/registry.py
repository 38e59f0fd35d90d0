"""Pick and cache the sentiment model the settings ask for."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from engine.config import current_settings
from engine.sentiment.finbert import FinBertModel, has_weights
from engine.sentiment.offline import OfflineModel
from engine.sentiment.protocols import SentimentModel, SentimentUnavailable

log = logging.getLogger(__name__)

MODEL_NAMES = ("auto", "finbert", "offline")

# Loading FinBERT takes seconds and ~0.5 GB: one instance per (kind, weights directory) per process.
_cache: dict[tuple[str, str], SentimentModel] = {}
_broken: set[str] = set()  # FinBERT directories "auto" failed to load: not retried on every call
_lock = threading.Lock()


def get_model(name: str | None = None) -> SentimentModel:
    """The model `name` ("auto", "finbert", "offline"; None: settings' sentiment.model).

    "auto" is FinBERT when sentiment.finbert_path holds weights, else the offline model; it never raises
    for a missing or broken FinBERT. "finbert" raises SentimentUnavailable when it cannot be loaded.
    The first FinBERT call blocks for seconds (imports, weights): call it at start-up or in a thread.
    """
    settings = current_settings().sentiment
    name = name or settings.model
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown sentiment model {name!r}; use one of {', '.join(MODEL_NAMES)}")
    path = str(Path(settings.finbert_path).expanduser().resolve()) if settings.finbert_path else ""
    if name == "offline":
        return _cached(("offline", ""), OfflineModel)
    if name == "finbert":
        if not path:
            raise SentimentUnavailable("sentiment.finbert_path is empty: FinBERT needs a weights folder")
        return _cached(("finbert", path), lambda: FinBertModel(path))
    if path and path not in _broken and has_weights(path):
        try:
            return _cached(("finbert", path), lambda: FinBertModel(path))
        except SentimentUnavailable as exc:
            _broken.add(path)
            log.warning("sentiment: %s; using the offline model", exc)
    return _cached(("offline", ""), OfflineModel)


def _cached(key: tuple[str, str], build: Callable[[], SentimentModel]) -> SentimentModel:
    with _lock:
        model = _cache.get(key)
        if model is None:
            model = build()
            _cache[key] = model
        return model


def clear_model_cache() -> None:
    """Forget loaded models (tests; a /reload that changed finbert_path)."""
    with _lock:
        _cache.clear()
        _broken.clear()
