"""FinBERT (or any 3-class financial sentiment BERT) loaded from a local directory.

torch and transformers are imported only when a FinBERT model is actually built: together they take
~2.5 s to import and most runs of Tipster use the offline model. Nothing is ever downloaded
(local_files_only=True): the weights must already be on disk, e.g. ProsusAI/finbert saved to
sentiment.finbert_path.
"""

from __future__ import annotations

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
BATCH_SIZE = 16
MAX_TOKENS = 128  # headlines are ~20 tokens; this only guards against an odd long text


def has_weights(path: str | Path) -> bool:
    """True when `path` holds a config.json and a PyTorch weights file."""
    p = Path(path)
    return (p / "config.json").is_file() and any((p / name).is_file() for name in WEIGHT_FILES)


def _label_indices(id2label: dict[Any, str]) -> list[int]:
    """Model output index for each of LABELS, read from the model's own config (not assumed)."""
    by_name: dict[str, int] = {}
    for idx, label in id2label.items():
        by_name[str(label).strip().lower()[:3]] = int(idx)  # "positive", "Positive", "POS" all map
    try:
        return [by_name[label[:3]] for label in LABELS]
    except KeyError:
        raise SentimentUnavailable(
            f"model labels {sorted(id2label.values())} are not positive/negative/neutral"
        ) from None


class FinBertModel:
    name = "finbert"

    def __init__(self, path: str | Path, batch_size: int = BATCH_SIZE) -> None:
        path = Path(path)
        if not has_weights(path):
            raise SentimentUnavailable(
                f"FinBERT weights not found in {path} (need config.json and model.safetensors or "
                "pytorch_model.bin); set sentiment.model to 'offline' or 'auto', or save a model there"
            )
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a bot's log is no place for "Loading weights: 100%|####|"

        self._torch = torch
        self.path = path
        self.batch_size = batch_size
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self._model = AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise SentimentUnavailable(f"cannot load FinBERT from {path}: {exc}") from exc
        self._model.eval()
        self._order = _label_indices(self._model.config.id2label)
        # analyse() scores in worker threads; a fast tokenizer used from two threads at once fails
        # ("Already borrowed"), and two parallel forward passes on 2 cores are not faster anyway.
        self._lock = threading.Lock()

    def probabilities(self, texts: list[str]) -> list[list[float]]:
        """Per text, probabilities in LABELS order (negative, neutral, positive)."""
        torch = self._torch
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            with self._lock, torch.no_grad():
                enc = self._tokenizer(
                    batch, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
                )
                probs = torch.softmax(self._model(**enc).logits, dim=-1)
            out.extend(probs[:, self._order].tolist())
        return out

    def score(self, texts: list[str]) -> list[float]:
        return [p[2] - p[0] for p in self.probabilities(texts)]

    def classify(self, texts: list[str]) -> list[str]:
        return [LABELS[max(range(3), key=p.__getitem__)] for p in self.probabilities(texts)]
