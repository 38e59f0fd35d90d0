"""FinBERT (or any 3-class financial sentiment BERT) loaded from a local directory, lazily.

Constructing `FinBertModel(path)` only checks the folder: weights present, config.json readable, labels
usable. torch and transformers are imported, and the weights loaded, on the first `score`/`classify` (or
`warm_up()`): together they take seconds and ~0.5 GB, and most runs of Tipster use the offline model.
Nothing is ever downloaded (local_files_only=True): the weights must already be on disk, e.g.
ProsusAI/finbert fetched by `tipster download-model` into sentiment.finbert_path.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from engine.sentiment.protocols import LABELS, SentimentUnavailable

WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
# One forward pass for the 20 texts a tip scores; larger batches are not faster per text on CPU.
BATCH_SIZE = 32
# ProsusAI/finbert was fine-tuned with max_seq_length 64 (including [CLS] and [SEP]); longer inputs are
# outside what it learnt, and headlines are ~20 tokens anyway.
MAX_TOKENS = 64


def has_weights(path: str | Path) -> bool:
    """True when `path` holds a config.json and a PyTorch weights file."""
    p = Path(path)
    return (p / "config.json").is_file() and any((p / name).is_file() for name in WEIGHT_FILES)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _label_indices(id2label: dict[Any, str]) -> list[int]:
    """Model output index for each of LABELS, read from the model's own config (not assumed)."""
    names = sorted(str(v) for v in id2label.values())
    try:
        # "positive", "Positive", "POS" all map; config.json keys are strings ("0"), loaded configs ints.
        by_name = {str(label).strip().lower()[:3]: int(idx) for idx, label in id2label.items()}
        order = [by_name[label[:3]] for label in LABELS]
    except (KeyError, ValueError, TypeError):
        order = []
    # Exactly three outputs, each one of the three classes: a fourth label would leak probability mass.
    if len(id2label) != 3 or sorted(order) != [0, 1, 2]:
        raise SentimentUnavailable(f"model labels {names} are not positive/negative/neutral")
    return order


def read_label_order(path: Path) -> list[int]:
    """The output index of each of LABELS, from `path`/config.json, without importing transformers."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SentimentUnavailable(f"cannot read {path / 'config.json'}: {_one_line(exc)}") from None
    id2label = config.get("id2label") if isinstance(config, dict) else None
    if not isinstance(id2label, dict) or not id2label:
        raise SentimentUnavailable(f"{path / 'config.json'} has no id2label: not a 3-class sentiment model")
    try:
        return _label_indices(id2label)
    except SentimentUnavailable as exc:
        raise SentimentUnavailable(f"FinBERT in {path} is unusable: {exc}") from None


class FinBertModel:
    name = "finbert"

    def __init__(self, path: str | Path, batch_size: int = BATCH_SIZE, device: str = "cpu") -> None:
        path = Path(path)
        if not has_weights(path):
            raise SentimentUnavailable(
                f"FinBERT weights not found in {path} (need config.json and model.safetensors or "
                "pytorch_model.bin)"
            )
        self.path = path
        self.batch_size = batch_size
        self.device = device
        self._order = read_label_order(path)
        self._torch: Any = None
        self._tokenizer: Any = None
        self._model: Any = None
        self._load_error: SentimentUnavailable | None = None
        self._load_lock = threading.Lock()
        # analyse() scores in worker threads; a fast tokenizer used from two threads at once fails
        # ("Already borrowed"), and two parallel forward passes on 2 cores are not faster anyway.
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def warm_up(self) -> None:
        """Load the weights now (seconds; call it in a thread at start) instead of on the first tip."""
        self._ensure_loaded()

    def _ensure_loaded(self) -> None:
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is not None:
                return
            if self._load_error is not None:  # a failed load is not retried on every tip
                raise self._load_error
            try:
                self._load()
            except SentimentUnavailable as exc:
                self._load_error = exc
                raise

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a bot's log is no place for "Loading weights: 100%|####|"
        path = str(self.path)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True)
            model.to(self.device)
        except Exception as exc:  # a corrupt file raises SafetensorError, pickle errors, …: one error type out
            raise SentimentUnavailable(f"cannot load FinBERT from {path}: {_one_line(exc)}") from exc
        if model.config.num_labels != 3:
            raise SentimentUnavailable(f"FinBERT in {path} has {model.config.num_labels} outputs, not 3")
        model.eval()
        self._torch, self._tokenizer = torch, tokenizer
        self._model = model  # last: `loaded` is True only once everything above is in place

    def probabilities(self, texts: list[str]) -> list[list[float]]:
        """Per text, probabilities in LABELS order (negative, neutral, positive)."""
        if not texts:
            return []
        self._ensure_loaded()
        torch = self._torch
        # Batches of similar length pad less: score in length order, answer in the caller's order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            with self._lock, torch.inference_mode():
                enc = self._tokenizer(
                    [texts[i] for i in idx], padding=True, truncation=True, max_length=MAX_TOKENS,
                    return_tensors="pt",
                ).to(self.device)
                probs = torch.softmax(self._model(**enc).logits.float(), dim=-1)[:, self._order].tolist()
            for i, p in zip(idx, probs, strict=True):
                out[i] = p
        return out

    def score(self, texts: list[str]) -> list[float]:
        return [p[2] - p[0] for p in self.probabilities(texts)]

    def classify(self, texts: list[str]) -> list[str]:
        return [LABELS[max(range(3), key=p.__getitem__)] for p in self.probabilities(texts)]
