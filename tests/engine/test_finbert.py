"""FinBERT: loading and scoring (on tiny BERTs built here with a vocabulary generated from real finance
headlines), label order, truncation, lazy thread-safe loading, model choice, and `download_finbert`
against a closed port, HF_HUB_OFFLINE and a local server speaking the Hub's API.

References are computed with torch directly in the test (tokenize, forward, softmax, pick columns by the
label names the test itself chose), never with FinBertModel. Everything runs under HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.sentiment.dataset import load_tweets
from engine.sentiment.download import DownloadFailed, download_finbert
from engine.sentiment.finbert import MAX_TOKENS, FinBertModel
from engine.sentiment.offline import OfflineModel
from engine.sentiment.protocols import SentimentUnavailable
from engine.sentiment.registry import clear_model_cache, get_model, resolve_model

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[2]
FINBERT_LABELS = {0: "positive", 1: "negative", 2: "neutral"}  # ProsusAI/finbert's order
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """HF_HUB_OFFLINE=1 for every test here (huggingface_hub reads it at import, so set its constant too)."""
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    clear_model_cache()
    yield
    clear_model_cache()


# --- tiny BERTs ------------------------------------------------------------------------------------------


# Real finance headlines (the Twitter Financial News tweets the offline model ships), without their links.
HEADLINES = [re.sub(r"\s*https?://\S+", "", t).strip() for t in load_tweets("all").texts[:400]]
# The generated vocabulary: every lower-cased word and punctuation mark of those headlines.
WORDS = sorted({w for h in HEADLINES for w in re.findall(r"[a-z0-9]+|[^\sa-z0-9]", h.lower())})


def _tokenizer(path: Path) -> Any:
    vocab_file = path / "vocab.txt"
    vocab_file.write_text("\n".join(SPECIALS + WORDS) + "\n", encoding="utf-8")
    cls = transformers.BertTokenizer
    # transformers 5 takes `vocab` (a path or a dict); 4.x took `vocab_file`.
    if "vocab" in inspect.signature(cls.__init__).parameters:
        return cls(vocab=str(vocab_file))
    return cls(vocab_file=str(vocab_file))


def _build(path: Path, id2label: dict[int, str] = FINBERT_LABELS, favoured: int | None = None) -> tuple[Any, Any]:
    """A 1-layer BERT saved to `path`, with random weights large enough (initializer_range 0.2, BERT's is
    0.02) that scores spread over [-1, 1], or with a classifier biased so class `favoured` wins for any
    input. Returns (model, tokenizer) as saved."""
    path.mkdir(parents=True)
    tokenizer = _tokenizer(path)
    config = transformers.BertConfig(
        vocab_size=len(SPECIALS) + len(WORDS), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=256, initializer_range=0.2, num_labels=3, id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    if favoured is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.zero_()
            model.classifier.bias[favoured] = 8.0
    model.eval()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


def _derive(model: Any, tokenizer: Any, path: Path, id2label: dict[int, str], perm: list[int]) -> Any:
    """The same network with output i = `model`'s output perm[i], labelled `id2label`."""
    derived = copy.deepcopy(model)
    with torch.no_grad():
        derived.classifier.weight.copy_(model.classifier.weight[perm])
        derived.classifier.bias.copy_(model.classifier.bias[perm])
    derived.config.id2label = id2label
    derived.config.label2id = {v: k for k, v in id2label.items()}
    path.mkdir(parents=True)
    derived.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return derived


def _reference(model: Any, tokenizer: Any, text: str, pos: int, neg: int, max_length: int = 64) -> float:
    """p(positive) - p(negative) for one text, computed directly (no padding: one text per pass)."""
    enc = tokenizer([text], truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        probs = torch.softmax(model(**enc).logits, dim=-1)[0]
    return float(probs[pos] - probs[neg])


@pytest.fixture(scope="module")
def canonical(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    path = tmp_path_factory.mktemp("finbert") / "canonical"
    model, tokenizer = _build(path)
    return path, model, tokenizer


# --- scoring ---------------------------------------------------------------------------------------------


def test_scores_match_a_direct_torch_computation(canonical: tuple[Path, Any, Any]) -> None:
    path, model, tokenizer = canonical
    texts = HEADLINES[:45]  # more than one batch (32), of mixed lengths
    finbert = FinBertModel(path)
    scores = finbert.score(texts)
    expected = [_reference(model, tokenizer, t, pos=0, neg=1) for t in texts]
    assert scores == pytest.approx(expected, abs=1e-5)
    assert max(expected) - min(expected) > 0.3  # the scores differ per text: the comparison means something
    labels = finbert.classify(texts)
    names = {0: "positive", 1: "negative", 2: "neutral"}
    for text, label in zip(texts, labels, strict=True):
        enc = tokenizer([text], truncation=True, max_length=64, return_tensors="pt")
        with torch.no_grad():
            assert label == names[int(model(**enc).logits[0].argmax())]
    assert finbert.score([]) == [] and finbert.classify([]) == []


def test_a_derived_label_order_gives_the_same_scores(canonical: tuple[Path, Any, Any], tmp_path: Path) -> None:
    path, model, tokenizer = canonical
    # Output 0 is the canonical neutral (2), 1 its positive (0), 2 its negative (1); names say so.
    derived_labels = {0: "Neutral", 1: "Positive", 2: "Negative"}
    derived = _derive(model, tokenizer, tmp_path / "derived", derived_labels, perm=[2, 0, 1])
    texts = HEADLINES[100:130]
    canonical_scores = FinBertModel(path).score(texts)
    derived_scores = FinBertModel(tmp_path / "derived").score(texts)
    # Reference from the derived network's own logits, columns picked by hand: positive is 1, negative 2.
    expected = [_reference(derived, tokenizer, t, pos=1, neg=2) for t in texts]
    assert derived_scores == pytest.approx(expected, abs=1e-5)
    assert derived_scores == pytest.approx(canonical_scores, abs=1e-5)
    # Reading the derived outputs in FinBERT's order would give other scores: the mapping matters here.
    wrong = [_reference(derived, tokenizer, t, pos=0, neg=1) for t in texts]
    assert max(abs(a - b) for a, b in zip(wrong, expected, strict=True)) > 0.1


def test_rigged_classifiers_map_to_their_label_names(tmp_path: Path) -> None:
    _build(tmp_path / "pos", FINBERT_LABELS, favoured=0)
    _build(tmp_path / "neg", {0: "NEUTRAL", 1: "POS", 2: "neg"}, favoured=2)
    texts = ["profit rose", "net loss", "an unknown word", ""]
    assert all(0.99 < s <= 1.0 for s in FinBertModel(tmp_path / "pos").score(texts))
    assert set(FinBertModel(tmp_path / "pos").classify(texts)) == {"positive"}
    assert all(-1.0 <= s < -0.99 for s in FinBertModel(tmp_path / "neg").score(texts))
    assert set(FinBertModel(tmp_path / "neg").classify(texts)) == {"negative"}


def test_texts_are_truncated_at_64_tokens(canonical: tuple[Path, Any, Any]) -> None:
    path, model, tokenizer = canonical
    words = [w for w in WORDS if w.isalpha()]
    long_words = [words[(i * 37) % len(words)] for i in range(200)]
    text = " ".join(long_words)
    assert len(tokenizer(text)["input_ids"]) == 202  # one token per word, plus [CLS] and [SEP]
    assert MAX_TOKENS == 64
    finbert = FinBertModel(path)
    [score] = finbert.score([text])
    assert score == pytest.approx(_reference(model, tokenizer, text, pos=0, neg=1, max_length=64), abs=1e-6)
    # [CLS] + 62 words + [SEP] are its first 64 tokens: the text cut there scores the same.
    [cut] = finbert.score([" ".join(long_words[:62])])
    assert score == pytest.approx(cut, abs=1e-6)
    # A model reading 128 tokens (as before) or the whole text would score it otherwise.
    for longer in (128, 256):
        assert abs(score - _reference(model, tokenizer, text, pos=0, neg=1, max_length=longer)) > 1e-3


def test_scoring_from_many_threads_is_safe(canonical: tuple[Path, Any, Any]) -> None:
    path, model, tokenizer = canonical
    finbert = FinBertModel(path)
    texts = HEADLINES[200:220]
    expected = [_reference(model, tokenizer, t, pos=0, neg=1) for t in texts]
    results: list[list[float]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(finbert.score(texts))
        except BaseException as exc:  # collected: an assert in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and len(results) == 12
    assert all(r == pytest.approx(expected, abs=1e-5) for r in results)


# --- lazy, once ------------------------------------------------------------------------------------------


def test_construction_checks_the_folder_without_importing_torch(canonical: tuple[Path, Any, Any]) -> None:
    path, _, _ = canonical
    code = (
        "import sys\n"
        "from engine.sentiment.finbert import FinBertModel\n"
        f"m = FinBertModel({str(path)!r})\n"
        "assert not m.loaded and m._tokenizer is None\n"
        "sys.exit(3 if 'torch' in sys.modules or 'transformers' in sys.modules else 0)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False, capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode()


def test_weights_load_once_on_first_use(
    canonical: tuple[Path, Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _, _ = canonical
    auto = transformers.AutoModelForSequenceClassification
    original = auto.from_pretrained
    loads: list[str] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        loads.append(str(args[0]))
        time.sleep(0.05)  # widen the window in which a second thread could start a second load
        return original(*args, **kwargs)

    monkeypatch.setattr(auto, "from_pretrained", counting)
    finbert = FinBertModel(path)
    assert not finbert.loaded and finbert._tokenizer is None and loads == []

    barrier = threading.Barrier(3)
    results: dict[str, Any] = {}

    def call(name: str, fn: Any) -> None:
        barrier.wait()
        results[name] = fn()

    threads = [
        threading.Thread(target=call, args=("a", lambda: finbert.score(HEADLINES[:5]))),
        threading.Thread(target=call, args=("b", lambda: finbert.score(HEADLINES[:5]))),
        threading.Thread(target=call, args=("warm", finbert.warm_up)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert loads == [str(path)]
    assert finbert.loaded and results["a"] == results["b"] and len(results["a"]) == 5
    finbert.score(HEADLINES[5:9])
    finbert.warm_up()
    assert len(loads) == 1


def test_warm_up_loads_eagerly(canonical: tuple[Path, Any, Any]) -> None:
    finbert = FinBertModel(canonical[0])
    assert not finbert.loaded
    finbert.warm_up()
    assert finbert.loaded and finbert._tokenizer is not None


def test_a_failed_load_is_one_line_and_not_retried(
    canonical: tuple[Path, Any, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
        (broken / name).write_bytes((canonical[0] / name).read_bytes())
    (broken / "model.safetensors").write_bytes(b"not a safetensors file\n" * 10)
    finbert = FinBertModel(broken)  # the cheap check passes: config, labels and a weights file are there
    auto = transformers.AutoModelForSequenceClassification
    original = auto.from_pretrained
    loads: list[int] = []
    monkeypatch.setattr(auto, "from_pretrained", lambda *a, **k: loads.append(1) or original(*a, **k))
    for _ in range(2):
        with pytest.raises(SentimentUnavailable, match="cannot load FinBERT") as err:
            finbert.score(["profit rose"])
        assert "\n" not in str(err.value)
    with pytest.raises(SentimentUnavailable):
        finbert.warm_up()
    assert loads == [1] and not finbert.loaded


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"id2label": {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}}, "not positive/negative/neutral"),
        ({"id2label": {"0": "positive", "1": "negative"}}, "not positive/negative/neutral"),
        ({"id2label": {"0": "positive", "1": "negative", "2": "neutral", "3": "mixed"}}, "not positive"),
        ({"id2label": {"0": "positive", "1": "pos", "2": "neutral"}}, "not positive/negative/neutral"),
        ({"model_type": "bert"}, "has no id2label"),
        ("{not json", "cannot read"),
    ],
)
def test_unusable_configs_are_one_line(tmp_path: Path, config: Any, match: str) -> None:
    (tmp_path / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    (tmp_path / "model.safetensors").write_bytes(b"unused")
    with pytest.raises(SentimentUnavailable, match=match) as err:
        FinBertModel(tmp_path)
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)


def test_a_real_model_with_unusable_labels_is_refused(tmp_path: Path) -> None:
    _build(tmp_path / "bad", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(SentimentUnavailable, match="labels") as err:
        FinBertModel(tmp_path / "bad")
    assert "\n" not in str(err.value)


# --- choosing the model ----------------------------------------------------------------------------------


def test_resolve_offline() -> None:
    model, note = resolve_model("offline", "")
    assert isinstance(model, OfflineModel) and note is None
    assert resolve_model("offline", "/nowhere")[0] is model  # one instance per process
    assert get_model("offline") is model


def test_resolve_auto_without_weights_says_why(tmp_path: Path) -> None:
    model, note = resolve_model("auto", "")
    assert model.name == "offline" and note == "sentiment.finbert_path is empty: using the offline model"
    missing = tmp_path / "missing"
    model, note = resolve_model("auto", missing)
    assert model.name == "offline"
    assert note == (f"FinBERT weights not found in {missing}: using the offline model "
                    "(run `tipster download-model` on a machine with internet)")
    (tmp_path / "config.json").write_text("{}")  # a config without weights is not a model
    model, note = resolve_model("auto", tmp_path)
    assert model.name == "offline" and note is not None and "weights not found" in note
    assert get_model("auto", tmp_path).name == "offline"


def test_resolve_auto_with_bad_labels_degrades_with_one_line(tmp_path: Path) -> None:
    _build(tmp_path / "bad", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    model, note = resolve_model("auto", tmp_path / "bad")
    assert model.name == "offline"
    assert note is not None and "labels" in note and note.endswith("using the offline model") and "\n" not in note


def test_resolve_with_weights_is_finbert_not_yet_loaded(canonical: tuple[Path, Any, Any]) -> None:
    path = canonical[0]
    model, note = resolve_model("auto", path)
    assert isinstance(model, FinBertModel) and note is None and not model.loaded
    assert resolve_model("finbert", path) == (model, None)  # one instance per weights folder
    assert resolve_model("finbert", str(path) + "/") == (model, None)
    assert get_model("finbert", path) is model


def test_resolve_finbert_without_weights_raises_one_line(tmp_path: Path) -> None:
    with pytest.raises(SentimentUnavailable) as err:
        resolve_model("finbert", tmp_path / "missing")
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / "missing") in message
    assert "tipster download-model" in message
    with pytest.raises(SentimentUnavailable, match="finbert_path is empty"):
        resolve_model("finbert", "")
    _build(tmp_path / "bad", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(SentimentUnavailable, match="labels"):
        get_model("finbert", tmp_path / "bad")


def test_resolve_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown sentiment model"):
        resolve_model("vader", "")


# --- download --------------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_under_hf_hub_offline_fails_with_one_line(tmp_path: Path) -> None:
    code = (
        "from engine.sentiment.download import DownloadFailed, download_finbert\n"
        "try:\n"
        f"    download_finbert({str(tmp_path / 'finbert')!r})\n"
        "except DownloadFailed as exc:\n"
        "    print(exc)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=False, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0 and run.stderr == ""
    lines = run.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cannot download ProsusAI/finbert: HF_HUB_OFFLINE")
    assert f"copy the weights into {tmp_path / 'finbert'} by hand" in lines[0]
    assert not (tmp_path / "finbert").exists()


def test_download_without_a_connection_fails_fast_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    port = _closed_port()
    start = time.monotonic()
    with pytest.raises(DownloadFailed) as err:
        download_finbert(tmp_path / "finbert", endpoint=f"http://127.0.0.1:{port}")
    assert time.monotonic() - start < 5  # no retry loop: the Hub client would retry for ~25 s
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"cannot download ProsusAI/finbert: no connection to 127.0.0.1:{port} (")
    assert message.endswith(f"copy the weights into {tmp_path / 'finbert'} by hand")


class FakeHub:
    """The few Hub endpoints `download_finbert` uses: model info, the file tree, and file resolution."""

    SHA = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, repo: str, files: dict[str, bytes], status: int = 200) -> None:
        self.repo, self.files, self.status = repo, files, status
        self.fetched: list[str] = []

    def app(self) -> Any:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/api/models/{org}/{name}", self.info)
        app.router.add_get("/api/models/{org}/{name}/revision/{rev}", self.info)
        app.router.add_get("/api/models/{org}/{name}/tree/{rev}", self.tree)
        app.router.add_route("*", "/{org}/{name}/resolve/{rev}/{file:.+}", self.resolve)
        return app

    def _repo_of(self, request: Any) -> str:
        return f"{request.match_info['org']}/{request.match_info['name']}"

    async def info(self, request: Any) -> Any:
        from aiohttp import web

        if self.status != 200:
            return web.json_response({"error": "down"}, status=self.status)
        if self._repo_of(request) != self.repo:
            return web.json_response({"error": "Repository not found"}, status=404,
                                     headers={"X-Error-Code": "RepoNotFound"})
        return web.json_response({
            "id": self.repo, "modelId": self.repo, "sha": self.SHA, "private": False,
            "siblings": [{"rfilename": name} for name in self.files],
        })

    async def tree(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response([
            {"type": "file", "path": name, "size": len(body), "oid": hashlib.sha1(body).hexdigest()}
            for name, body in self.files.items()
        ])

    async def resolve(self, request: Any) -> Any:
        from aiohttp import web

        name = request.match_info["file"]
        if name not in self.files:
            return web.Response(status=404, headers={"X-Error-Code": "EntryNotFound"})
        body = self.files[name]
        headers = {"X-Repo-Commit": self.SHA, "ETag": f'"{hashlib.sha1(body).hexdigest()}"'}
        if request.method == "HEAD":
            return web.Response(headers={**headers, "Content-Length": str(len(body))})
        self.fetched.append(name)
        return web.Response(body=body, headers=headers)


def _repo_files(path: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}
    # What ProsusAI/finbert also holds, which inference never needs.
    files.update({"tf_model.h5": b"tf", "flax_model.msgpack": b"flax", "README.md": b"# finbert",
                  "pytorch_model.bin": b"an older copy of the weights"})
    return files


async def _serve(hub: FakeHub) -> tuple[Any, str]:
    from tests.support.loopback import serve_on_loopback

    return await serve_on_loopback(hub.app())


async def test_download_fetches_only_what_inference_needs(
    canonical: tuple[Path, Any, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    path, model, tokenizer = canonical
    hub = FakeHub("ProsusAI/finbert", _repo_files(path))
    runner, url = await _serve(hub)
    try:
        target = tmp_path / "models" / "finbert"
        got = await asyncio.to_thread(download_finbert, target, endpoint=url)
    finally:
        await runner.cleanup()
    assert got == target
    wanted = {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"}
    assert wanted <= set(hub.fetched)
    assert not set(hub.fetched) & {"tf_model.h5", "flax_model.msgpack", "README.md", "pytorch_model.bin"}
    assert (target / "model.safetensors").read_bytes() == (path / "model.safetensors").read_bytes()
    texts = HEADLINES[:10]
    expected = [_reference(model, tokenizer, t, pos=0, neg=1) for t in texts]
    assert FinBertModel(target).score(texts) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(
    ("repo", "status", "reason"),
    [("ProsusAI/finbert", 503, "answered HTTP 503"), ("nobody/nothing", 200, "no such model on")],
)
async def test_download_refused_by_the_hub_is_one_line(
    canonical: tuple[Path, Any, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo: str, status: int,
    reason: str,
) -> None:
    import asyncio

    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    hub = FakeHub("ProsusAI/finbert", _repo_files(canonical[0]), status=status)
    runner, url = await _serve(hub)
    try:
        with pytest.raises(DownloadFailed) as err:
            await asyncio.to_thread(download_finbert, tmp_path / "fb", repo, endpoint=url)
    finally:
        await runner.cleanup()
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"cannot download {repo}: ") and reason in message
    assert hub.fetched == []


async def test_download_of_a_repo_without_pytorch_weights_is_refused(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    hub = FakeHub("someone/tf-only", {"config.json": b"{}", "tf_model.h5": b"tf", "vocab.txt": b"a\n"})
    runner, url = await _serve(hub)
    try:
        with pytest.raises(DownloadFailed, match="no PyTorch weights"):
            await asyncio.to_thread(download_finbert, tmp_path / "fb", "someone/tf-only", endpoint=url)
    finally:
        await runner.cleanup()
    assert hub.fetched == []
