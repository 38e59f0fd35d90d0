"""The labelled data the project ships, and the one train/held-out split everybody uses.

The split is by a hash of the text, not by position or a random generator, so the training script,
the benchmark and the tests agree on it without sharing state, and duplicates land on the same side.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from importlib import resources

HELDOUT_PERCENT = 30  # of the 2,388 tweets: ~720 held out, never seen by training or tuning


@dataclass(frozen=True, slots=True)
class Labelled:
    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def _read_csv(name: str) -> Labelled:
    raw = resources.files("engine.sentiment").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(raw)))
    return Labelled([r["text"] for r in rows], [r["label"] for r in rows])


def is_heldout(text: str) -> bool:
    digest = hashlib.sha1(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELDOUT_PERCENT


def load_tweets(part: str = "all") -> Labelled:
    """Twitter Financial News (validation split): part is "train", "heldout" or "all"."""
    data = _read_csv("twitter_financial_news_valid.csv")
    if part == "all":
        return data
    if part not in ("train", "heldout"):
        raise ValueError(f"part must be 'train', 'heldout' or 'all', not {part!r}")
    want = part == "heldout"
    keep = [i for i, t in enumerate(data.texts) if is_heldout(t) == want]
    return Labelled([data.texts[i] for i in keep], [data.labels[i] for i in keep])


def load_handwritten_news() -> Labelled:
    """60 news-style sentences written for this project (a sanity check, not a benchmark)."""
    return _read_csv("handwritten_news.csv")
