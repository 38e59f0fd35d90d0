"""Pick and cache the sentiment model asked for: "offline", "finbert" or "auto"."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from engine.sentiment.finbert import FinBertModel, has_weights
from engine.sentiment.offline import OfflineModel
from engine.sentiment.protocols import SentimentModel, SentimentUnavailable

MODEL_NAMES = ("auto", "finbert", "offline")
DOWNLOAD_HINT = "run `tipster download-model` on a machine with internet"

# FinBERT holds ~0.5 GB once loaded: one instance per weights directory per process, shared by callers.
_cache: dict[tuple[str, str], SentimentModel] = {}
_lock = threading.Lock()


def choose_model(name: str, finbert_path: str | Path | None) -> tuple[str, str | None]:
    """Which model `name` resolves to, from the settings and the weights folder alone (nothing is loaded or
    imported): ("offline" or "finbert", the note to say at start). Raises as `resolve_model` does."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown sentiment model {name!r}; use one of {', '.join(MODEL_NAMES)}")
    if name == "offline":
        return "offline", None
    shown = str(finbert_path or "")
    if name == "finbert":
        if not shown:
            raise SentimentUnavailable(
                "sentiment.model is finbert but sentiment.finbert_path is empty: set it to the weights folder"
            )
        if not has_weights(Path(shown).expanduser()):
            raise SentimentUnavailable(
                f"sentiment.model is finbert but no FinBERT weights are in {shown} (need config.json and "
                f"model.safetensors or pytorch_model.bin): {DOWNLOAD_HINT}, or set sentiment.model to auto"
            )
        return "finbert", None
    if not shown:
        return "offline", "sentiment.finbert_path is empty: using the offline model"
    if not has_weights(Path(shown).expanduser()):
        return "offline", f"FinBERT weights not found in {shown}: using the offline model ({DOWNLOAD_HINT})"
    return "finbert", None


def resolve_model(name: str, finbert_path: str | Path | None) -> tuple[SentimentModel, str | None]:
    """The model `name` asks for, and for "auto" without usable weights the one line to say at start.

    "offline": the bundled model. "finbert": FinBERT from `finbert_path`; raises SentimentUnavailable
    (one line) when the folder holds no usable weights. "auto": FinBERT when the folder holds usable
    weights, else the offline model and a note saying why. Cheap: FinBERT's weights load on its first
    score or on `warm_up()`, so this never blocks for seconds.
    """
    kind, note = choose_model(name, finbert_path)
    if kind == "offline":
        return _offline(), note
    try:
        return _finbert(str(finbert_path)), None
    except SentimentUnavailable as exc:  # weights there but unusable (config, labels): auto degrades
        if name == "finbert":
            raise
        return _offline(), f"{exc}: using the offline model"


def get_model(name: str, finbert_path: str | Path | None = None) -> SentimentModel:
    """`resolve_model` without the note; raises the same errors."""
    return resolve_model(name, finbert_path)[0]


def _offline() -> SentimentModel:
    return _cached(("offline", ""), OfflineModel)


def _finbert(path: str) -> SentimentModel:
    key = str(Path(path).expanduser().resolve())
    return _cached(("finbert", key), lambda: FinBertModel(Path(path).expanduser()))


def _cached(key: tuple[str, str], build: Callable[[], SentimentModel]) -> SentimentModel:
    with _lock:
        model = _cache.get(key)
        if model is None:
            model = build()
            _cache[key] = model
        return model


def clear_model_cache() -> None:
    """Forget built models (tests; a /reload that changed finbert_path)."""
    with _lock:
        _cache.clear()
