"""Sentiment scoring speed on 20-headline batches (what one tip scores): the offline model, and a
BERT-base-sized model (FinBERT's size: hidden 768, 12 layers, 12 heads, ~30k vocabulary) with random
weights, built here, saved to a temporary folder and loaded through FinBertModel, so the measured path
is the real one (tokenizer, 64-token truncation, batching, label mapping). Random weights score like
trained ones: the cost is the same matrix work.

    .venv/bin/python bench/sentiment.py [--batches 5]      # about a minute; writes ~0.45 GB to /tmp

Headlines: the real ones bundled for replay (engine/sentiment/data/crypto_2024.csv and
stocks_2004_2018.csv), an even sample of both. torch's thread count is left as it is (all cores).
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from engine.sentiment.finbert import MAX_TOKENS, FinBertModel
from engine.sentiment.offline import OfflineModel

BATCH = 20
DATA_FILES = ("crypto_2024.csv", "stocks_2004_2018.csv")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB_SIZE = 30522  # bert-base-uncased's, which FinBERT keeps


def headlines(count: int) -> list[str]:
    """`count` real headlines, evenly spread over both bundled files and alternating between them."""
    data = resources.files("engine.sentiment").joinpath("data")
    share = count // len(DATA_FILES)
    samples: list[list[str]] = []
    for name in DATA_FILES:
        rows = list(csv.DictReader(io.StringIO(data.joinpath(name).read_text(encoding="utf-8"))))
        texts = [r["headline"] for r in rows if r["headline"].strip()]
        samples.append(texts[:: max(1, len(texts) // share)][:share])
    return [t for group in zip(*samples, strict=False) for t in group]


def build_bert_base(path: Path, words: list[str]) -> None:
    """A BERT-base-sized classifier with FinBERT's labels and random weights, saved to `path`."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    # The vocabulary: the headlines' own words first (so they tokenize to whole words, as most do with
    # FinBERT's vocabulary), filled up to BERT's size with generated tokens.
    vocab = SPECIALS + words
    vocab += [f"tok{i}" for i in range(VOCAB_SIZE - len(vocab))]
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(path / "vocab.txt"))
    id2label = {0: "positive", 1: "negative", 2: "neutral"}
    config = BertConfig(vocab_size=len(vocab), num_labels=3, id2label=id2label,
                        label2id={v: k for k, v in id2label.items()})  # defaults: 768 hidden, 12 layers, 12 heads
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)


def time_batches(score: Callable[[list[str]], list[float]], batches: list[list[str]]) -> list[float]:
    """Seconds per batch, after one untimed batch (first-call costs are not the steady state)."""
    score(batches[0])
    out = []
    for batch in batches:
        start = time.perf_counter()
        score(batch)
        out.append(time.perf_counter() - start)
    return out


def matmul_gflops() -> float:
    """This machine's float32 matrix-multiply rate at BERT-base's shapes, to put the BERT figure in context
    (one 20-headline batch is ~70 GFLOP: 2 x 86 M weights x ~400 tokens)."""
    import torch

    a, w = torch.randn(400, 768), torch.randn(768, 3072)
    a @ w
    runs, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < 0.5:
        a @ w
        runs += 1
    return runs * 2 * 400 * 768 * 3072 / elapsed / 1e9


def report(name: str, seconds: list[float]) -> None:
    median = statistics.median(seconds)
    print(f"| {name} | {median * 1000:,.1f} | {min(seconds) * 1000:,.1f} | {BATCH / median:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5, help="timed 20-headline batches for the BERT model")
    args = parser.parse_args()

    texts = headlines(BATCH * max(args.batches, 50))
    offline_batches = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]
    bert_batches = offline_batches[: args.batches]
    words = sorted({w for t in texts for w in re.findall(r"[a-z0-9]+|[^\sa-z0-9]", t.lower())})

    import torch

    print(f"{len(texts)} real headlines in batches of {BATCH}; torch {torch.__version__} on "
          f"{torch.get_num_threads()} threads; truncation at {MAX_TOKENS} tokens\n")
    print("| model | ms per 20-headline batch (median) | best | texts/s |")
    print("|---|---|---|---|")
    report(f"offline ({len(offline_batches)} batches)", time_batches(OfflineModel().score, offline_batches))

    with tempfile.TemporaryDirectory(prefix="tipster-bert-base-") as tmp:
        path = Path(tmp) / "bert-base"
        start = time.perf_counter()
        build_bert_base(path, words)
        built = time.perf_counter() - start
        model = FinBertModel(path)
        start = time.perf_counter()
        model.warm_up()
        loaded = time.perf_counter() - start
        params = sum(p.numel() for p in model._model.parameters())
        tokens = [len(model._tokenizer(t, truncation=True, max_length=MAX_TOKENS)["input_ids"]) for t in texts]
        report(f"BERT-base, random weights ({args.batches} batches)", time_batches(model.score, bert_batches))
    print(f"\nBERT-base: {params / 1e6:.0f} M parameters, built and saved in {built:.1f} s, loaded by "
          f"FinBertModel.warm_up() in {loaded:.1f} s; {statistics.mean(tokens):.1f} tokens per headline "
          f"on average (longest {max(tokens)}); this machine multiplies float32 matrices at "
          f"{matmul_gflops():.0f} GFLOP/s")


if __name__ == "__main__":
    main()
