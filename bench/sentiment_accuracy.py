"""Accuracy of the sentiment candidates on the held-out tweets the offline model never trained on.

    .venv/bin/python -m bench.sentiment_accuracy          # from the repo root; < 1 minute

Data: the bundled Twitter Financial News tweets (validation split, 2,388 labelled finance tweets), split by
engine.sentiment.dataset into a training part (used by bench/train_offline_sentiment.py and by the
trained candidates below) and a held-out part (~720 tweets) that only this report looks at. The last
column is accuracy on 60 news-style sentences written for the project (a sanity check of behaviour on
news prose, not a benchmark: the same author wrote the lexicon).

Candidates that need optional packages (vaderSentiment, scikit-learn) are skipped when these are missing.
FinBERT is included when sentiment.finbert_path holds weights.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from importlib import resources

import numpy as np

from bot.settings import load_settings
from engine.sentiment.dataset import Labelled, load_handwritten_news, load_tweets
from engine.sentiment.offline import OfflineModel, rule_features
from engine.sentiment.protocols import LABELS

Classifier = Callable[[list[str]], list[str]]
MIN_TIMING_SECONDS = 0.3


def macro_f1(truth: list[str], pred: list[str]) -> float:
    scores = []
    for label in LABELS:
        tp = sum(t == label and p == label for t, p in zip(truth, pred, strict=True))
        fp = sum(t != label and p == label for t, p in zip(truth, pred, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, pred, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def accuracy(truth: list[str], pred: list[str]) -> float:
    return sum(t == p for t, p in zip(truth, pred, strict=True)) / len(truth)


def texts_per_second(classify: Classifier, texts: list[str]) -> float:
    runs, start = 0, time.perf_counter()
    while True:
        classify(texts)
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= MIN_TIMING_SECONDS:
            return runs * len(texts) / elapsed


def band(scores: list[float] | np.ndarray, width: float) -> list[str]:
    return ["positive" if s > width else "negative" if s < -width else "neutral" for s in scores]


def best_band(scores: np.ndarray, labels: list[str]) -> float:
    """The neutral band width that is most accurate on the TRAINING part."""
    grid = np.round(np.arange(0.05, 2.0, 0.05), 2)
    return float(max(grid, key=lambda w: accuracy(labels, band(scores, w))))


def candidates(train: Labelled) -> list[tuple[str, Classifier]]:
    out: list[tuple[str, Classifier]] = [
        ("always 'neutral' (majority class)", lambda texts: ["neutral"] * len(texts))
    ]
    out += _vader_candidates()

    def net(texts: list[str]) -> np.ndarray:
        f = rule_features(texts)
        return f[:, 0::2].sum(axis=1) - f[:, 1::2].sum(axis=1)

    width = best_band(net(train.texts), train.labels)
    out.append((f"finance rules, net score, ±{width:g} band (tuned on train)", lambda t: band(net(t), width)))
    out += _sklearn_candidates(train)
    model = OfflineModel()
    out.append(("offline model: finance rules + logistic regression (chosen)", model.classify))
    finbert_path = load_settings().sentiment.finbert_path
    from engine.sentiment.finbert import FinBertModel, has_weights

    if finbert_path and has_weights(finbert_path):
        out.append((f"FinBERT ({finbert_path})", FinBertModel(finbert_path).classify))
    return out


def _vader_candidates() -> list[tuple[str, Classifier]]:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        print("(vaderSentiment not installed: VADER rows skipped)")
        return []
    plain = SentimentIntensityAnalyzer()
    henry = SentimentIntensityAnalyzer()
    words = json.loads(
        resources.files("engine.sentiment").joinpath("data").joinpath("henry_2008.json").read_text("utf-8")
    )
    # finvader's recipe for Henry's list: every word at +-1.5 on VADER's scale.
    henry.lexicon.update({w: 1.5 for w in words["positive"]} | {w: -1.5 for w in words["negative"]})

    def vader(analyzer: SentimentIntensityAnalyzer, width: float) -> Classifier:
        return lambda texts: band([analyzer.polarity_scores(t)["compound"] for t in texts], width)

    return [
        ("VADER (vaderSentiment 3.3.2), ±0.05 band", vader(plain, 0.05)),
        ("VADER, ±0.3 band", vader(plain, 0.3)),
        ("VADER + Henry 2008 words (finvader-style), ±0.3 band", vader(henry, 0.3)),
    ]


def _sklearn_candidates(train: Labelled) -> list[tuple[str, Classifier]]:
    try:
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        print("(scikit-learn not installed: TF-IDF rows skipped)")
        return []
    from engine.sentiment.tokens import tokenize

    vec = TfidfVectorizer(
        tokenizer=tokenize, lowercase=False, token_pattern=None, sublinear_tf=True, min_df=2
    )
    x_words = vec.fit_transform(train.texts)
    y = np.asarray(train.labels)
    words_only = LogisticRegression(C=3.0, max_iter=5000).fit(x_words, y)

    def both_features(texts: list[str], words: object) -> object:
        return sp.hstack([words, sp.csr_matrix(np.log1p(rule_features(texts)))]).tocsr()

    combined = LogisticRegression(C=3.0, max_iter=5000).fit(both_features(train.texts, x_words), y)
    return [
        (
            "TF-IDF + logistic regression (trained on train)",
            lambda t: list(words_only.predict(vec.transform(t))),
        ),
        (
            "finance rules + TF-IDF + logistic regression (trained on train)",
            lambda t: list(combined.predict(both_features(t, vec.transform(t)))),
        ),
    ]


def main() -> None:
    train, heldout, news = load_tweets("train"), load_tweets("heldout"), load_handwritten_news()
    print(f"held-out tweets: {len(heldout)} (training part: {len(train)}); hand-written news: {len(news)}\n")
    print("| method | accuracy | macro-F1 | texts/s | hand-written news accuracy |")
    print("|---|---|---|---|---|")
    for name, classify in candidates(train):
        pred = classify(heldout.texts)
        speed = texts_per_second(classify, heldout.texts)
        shown = "—" if speed > 1e6 else f"{speed:,.0f}"  # a constant answer has no meaningful speed
        news_acc = accuracy(news.labels, classify(news.texts))
        print(
            f"| {name} | {accuracy(heldout.labels, pred):.3f} | {macro_f1(heldout.labels, pred):.3f} "
            f"| {shown} | {news_acc:.2f} |"
        )


if __name__ == "__main__":
    main()
