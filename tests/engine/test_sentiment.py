"""Sentiment wing: the offline model's accuracy and behaviour, model selection, FinBERT loading (with a tiny
BERT built here), analyse() fallbacks over news sources (the selection rule and the sources themselves are in
test_news.py). Reads only data in the project."""

from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.models import AssetClass, NewsItem, SentimentReading
from engine.sentiment import (
    LABELS,
    DatedHeadlines,
    NewsSource,
    OfflineModel,
    SentimentModel,
    analyse,
    clear_model_cache,
    get_model,
)
from engine.sentiment.dataset import load_handwritten_news, load_tweets

ROOT = Path(__file__).resolve().parents[2]

# The chosen model measures 0.782 accuracy / 0.680 macro-F1 on the held-out tweets (bench/
# sentiment_accuracy.py); these floors leave ~2 points for harmless lexicon edits and catch regressions.
HELDOUT_ACCURACY_FLOOR = 0.76
HELDOUT_MACRO_F1_FLOOR = 0.64
NEWS_ACCURACY_FLOOR = 0.90  # measured 0.98 on the 60 bundled news-style sentences

# A dozen news sentences in the style of Financial PhraseBank, written for this test (not in the
# training data). Direction words must be read against what moves: a narrower loss is good news.
SANITY = [
    ("Operating profit rose to EUR 8.4 mn from EUR 6.1 mn a year earlier.", "positive"),
    ("Quarterly net sales increased by 9% to USD 310 million.", "positive"),
    ("The net loss narrowed to EUR 0.8 mn from EUR 2.9 mn.", "positive"),
    ("The company cut its operating costs by 15%, lifting its margin.", "positive"),
    ("The contractor has won a EUR 25 million order from a Swedish utility.", "positive"),
    ("Operating profit decreased to EUR 1.9 mn from EUR 4.0 mn.", "negative"),
    ("The group's costs rose sharply, and it swung to a loss.", "negative"),
    ("The manufacturer will cut 120 jobs at its plant in Tampere.", "negative"),
    ("The broker downgraded the shares to sell and lowered its price target.", "negative"),
    ("The company has its headquarters in Oslo.", "neutral"),
    ("The annual report will be published on the company's website in March.", "neutral"),
    ("The agreement was signed in Stockholm on Monday.", "neutral"),
]


@pytest.fixture
def offline() -> OfflineModel:
    return OfflineModel()


@pytest.fixture
def fresh_models() -> Iterator[None]:
    """Tests fill the process-wide model cache; empty it before and after."""
    clear_model_cache()
    yield
    clear_model_cache()


def _accuracy(truth: list[str], pred: list[str]) -> float:
    return sum(t == p for t, p in zip(truth, pred, strict=True)) / len(truth)


def _macro_f1(truth: list[str], pred: list[str]) -> float:
    f1s = []
    for label in LABELS:
        tp = sum(t == p == label for t, p in zip(truth, pred, strict=True))
        fp = sum(p == label != t for t, p in zip(truth, pred, strict=True))
        fn = sum(t == label != p for t, p in zip(truth, pred, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / 3


# --- the offline model -------------------------------------------------------------------------------


def test_offline_scores_are_in_range_and_labels_known(offline: OfflineModel) -> None:
    texts = load_tweets("heldout").texts[:200] + [t for t, _ in SANITY] + ["", "!!!", "$AAPL"]
    scores = offline.score(texts)
    labels = offline.classify(texts)
    assert len(scores) == len(labels) == len(texts)
    assert all(-1.0 <= s <= 1.0 for s in scores)
    assert set(labels) <= {"positive", "negative", "neutral"}
    assert set(labels) == {"positive", "negative", "neutral"}  # it is not a constant
    assert offline.score([]) == [] and offline.classify([]) == []


def test_offline_score_agrees_with_class(offline: OfflineModel) -> None:
    texts = [t for t, _ in SANITY]
    for score, label in zip(offline.score(texts), offline.classify(texts), strict=True):
        if label == "positive":
            assert score > 0
        elif label == "negative":
            assert score < 0


@pytest.mark.parametrize(("text", "label"), SANITY)
def test_sanity_sentences(offline: OfflineModel, text: str, label: str) -> None:
    assert offline.classify([text]) == [label]


def test_heldout_split_is_disjoint_from_training() -> None:
    train, heldout = load_tweets("train"), load_tweets("heldout")
    assert len(train) + len(heldout) == len(load_tweets("all")) == 2388
    assert not set(train.texts) & set(heldout.texts)
    assert 650 <= len(heldout) <= 800


def test_accuracy_floor_on_heldout_tweets(offline: OfflineModel) -> None:
    heldout = load_tweets("heldout")
    pred = offline.classify(heldout.texts)
    majority = _accuracy(heldout.labels, ["neutral"] * len(heldout))
    assert _accuracy(heldout.labels, pred) >= HELDOUT_ACCURACY_FLOOR > majority + 0.09
    assert _macro_f1(heldout.labels, pred) >= HELDOUT_MACRO_F1_FLOOR


def test_accuracy_floor_on_handwritten_news(offline: OfflineModel) -> None:
    news = load_handwritten_news()
    assert len(news) == 60
    assert _accuracy(news.labels, offline.classify(news.texts)) >= NEWS_ACCURACY_FLOOR


def test_offline_is_fast(offline: OfflineModel) -> None:
    texts = load_tweets("all").texts[:2000]
    start = time.perf_counter()
    offline.classify(texts)
    assert 2000 / (time.perf_counter() - start) > 1000  # measured ~9,000 texts/s


def test_shipped_weights_match_the_training_script() -> None:
    """Editing the lexicon without re-running bench/train_offline_sentiment.py must not go unnoticed."""
    pytest.importorskip("sklearn")
    from bench.train_offline_sentiment import train

    shipped = json.loads((ROOT / "engine/sentiment/data/offline_model.json").read_text(encoding="utf-8"))
    fresh = train()
    assert fresh["features"] == shipped["features"] and fresh["C"] == shipped["C"]
    for fresh_row, shipped_row in zip(fresh["coef"], shipped["coef"], strict=True):
        assert fresh_row == pytest.approx(shipped_row, abs=1e-3)


# --- choosing a model ----------------------------------------------------------------------------------


def test_protocols_are_met() -> None:
    assert isinstance(OfflineModel(), SentimentModel)
    assert isinstance(DatedHeadlines(), NewsSource)


def test_get_model_offline_is_cached(fresh_models: None) -> None:
    model = get_model("offline")
    assert model.name == "offline"
    assert get_model("offline") is model


# auto/finbert with and without weights, label checks: tests/engine/test_finbert.py


def test_get_model_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown sentiment model"):
        get_model("vader")


def test_importing_the_wing_does_not_import_torch() -> None:
    code = "import sys, engine.sentiment; sys.exit('torch' in sys.modules or 'transformers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


# --- FinBERT loading code, exercised on a tiny BERT built here -----------------------------------------

VOCAB = "[PAD] [UNK] [CLS] [SEP] [MASK] the profit rose fell sales company shares net loss".split()


def _tiny_bert(path: Path, id2label: dict[int, str], favoured: int) -> Path:
    """A 1-layer BERT whose classifier bias makes class `favoured` win for any input."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    path.mkdir(parents=True)
    vocab_file = path / "vocab.txt"
    vocab_file.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tok_cls = transformers.BertTokenizer
    # transformers 5 takes `vocab` (a path or a dict); 4.x took `vocab_file`.
    if "vocab" in inspect.signature(tok_cls.__init__).parameters:
        tokenizer = tok_cls(vocab=str(vocab_file))
    else:
        tokenizer = tok_cls(vocab_file=str(vocab_file))
    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        num_labels=3,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    with torch.no_grad():
        bias = torch.zeros(3)
        bias[favoured] = 8.0
        model.classifier.bias.copy_(bias)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


async def test_finbert_scores_concurrent_analyses(fresh_models: None, tmp_path: Path) -> None:
    """analyse() scores in worker threads; parallel calls must share one FinBERT safely."""
    path = _tiny_bert(tmp_path / "pos", {0: "positive", 1: "negative", 2: "neutral"}, favoured=0)
    model = get_model("finbert", path)
    source = _Source([f"{t} {n}" for n in range(12) for t in ("the profit rose", "net loss fell", "sales")])
    readings = await asyncio.gather(
        *(analyse(s, AssetClass.STOCK, [source], model, max_texts=30, max_age_hours=48)
          for s in ("AAPL", "GOOG", "MSFT", "SPY"))
    )
    assert all(r.available and r.texts == 30 and r.model == "finbert" and r.score > 0.9 for r in readings)


# --- analyse() -----------------------------------------------------------------------------------------


class _Source:
    """A NewsSource whose texts were published one minute apart, the first one minute before `at`."""

    name = "test source"
    demo = False

    def __init__(self, texts: list[str] | None = None, error: Exception | None = None) -> None:
        self.texts = texts or []
        self.error = error

    async def fetch_items(self, symbol: str, asset: AssetClass, at: datetime) -> list[NewsItem]:
        if self.error:
            raise self.error
        return [NewsItem(text=t, source="Test Wire", published=at - timedelta(minutes=n + 1))
                for n, t in enumerate(self.texts)]


class _BrokenModel:
    name = "broken"

    def score(self, texts: list[str]) -> list[float]:
        raise RuntimeError("model exploded\nwith a traceback-like second line")

    def classify(self, texts: list[str]) -> list[str]:
        raise RuntimeError("model exploded")


async def test_analyse_falls_back_when_the_source_fails(offline: OfflineModel) -> None:
    reading = await analyse("AAPL", AssetClass.STOCK, [_Source(error=ConnectionError("feed down"))], offline,
                            max_texts=20, max_age_hours=48)
    assert isinstance(reading, SentimentReading)
    assert reading.score == 0.0 and reading.available is False and reading.texts == 0
    assert reading.error is not None and "feed down" in reading.error and "\n" not in reading.error
    assert reading.unavailable == ["test source: ConnectionError: feed down"]
    assert reading.model == "offline" and reading.source == "test source" and reading.demo is False


async def test_analyse_falls_back_when_the_model_fails() -> None:
    reading = await analyse("AAPL", AssetClass.STOCK, [_Source(["Sales rose 5%"])], _BrokenModel(), max_texts=20,
                            max_age_hours=48)
    assert reading.score == 0.0 and reading.available is False
    assert reading.error is not None and "model exploded" in reading.error and "\n" not in reading.error


async def test_analyse_without_texts_is_zero_and_available(offline: OfflineModel) -> None:
    # No news in the window is not a failure: the card says there was none, sentiment counts 0.00.
    reading = await analyse("AAPL", AssetClass.STOCK, [_Source([])], offline, max_texts=20, max_age_hours=48)
    assert reading.available is True and reading.score == 0.0 and reading.texts == 0 and reading.error is None


async def test_analyse_averages_model_scores(offline: OfflineModel) -> None:
    texts = ["Net sales rose 12% to EUR 40 mn.", "Operating profit fell to EUR 1 mn from EUR 3 mn.", "Hello"]
    reading = await analyse("AAPL", AssetClass.STOCK, [_Source(texts)], offline, max_texts=2, max_age_hours=48)
    assert reading.available is True and reading.texts == 2
    expected = sum(offline.score(texts[:2])) / 2
    assert reading.score == pytest.approx(expected)


async def test_analyse_with_bundled_headlines_is_demo(offline: OfflineModel) -> None:
    at = datetime(2024, 3, 27, 12, tzinfo=UTC)  # bundled crypto rows exist in the 48 h before
    reading = await analyse("BTC/USDT", AssetClass.CRYPTO, [DatedHeadlines(48)], offline, max_texts=20,
                            max_age_hours=48, at=at)
    assert reading.available is True and 0 < reading.texts <= 20
    assert reading.demo is True and reading.source == "bundled headlines" and reading.as_of == at
    assert all(at - timedelta(hours=48) <= i.published <= at for i in reading.items)
    assert -1.0 <= reading.score <= 1.0
