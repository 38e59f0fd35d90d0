"""Fetch FinBERT's weights from the Hugging Face Hub into a local folder (`tipster download-model`).

Only what inference needs is fetched: config.json, one weights format (safetensors when the repository
has it, else pytorch_model.bin; ProsusAI/finbert also ships TensorFlow and Flax copies we never load)
and the tokenizer files. Every failure becomes DownloadFailed with a one-line message.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from engine.sentiment.finbert import FinBertModel, has_weights
from engine.sentiment.protocols import SentimentUnavailable

FINBERT_REPO = "ProsusAI/finbert"
TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
)
# Preferred first: safetensors loads without unpickling; sharded checkpoints need the index and shards.
WEIGHT_CHOICES: tuple[tuple[str, ...], ...] = (
    ("model.safetensors",),
    ("model.safetensors.index.json", "model-*-of-*.safetensors"),
    ("pytorch_model.bin",),
    ("pytorch_model.bin.index.json", "pytorch_model-*-of-*.bin"),
)
TIMEOUT_S = 10.0


class DownloadFailed(RuntimeError):
    """The weights could not be fetched; the message is one line saying why and what to do."""


def download_finbert(
    path: str | Path, repo_id: str = FINBERT_REPO, *, endpoint: str | None = None, timeout: float = TIMEOUT_S
) -> Path:
    """Download `repo_id`'s inference files into `path` and check they make a usable model; returns `path`.

    `endpoint` overrides the Hub's address (default: $HF_ENDPOINT or https://huggingface.co).
    """
    target = Path(path).expanduser()
    by_hand = f"copy the weights into {target} by hand"
    try:
        from huggingface_hub import HfApi, constants, snapshot_download
    except ImportError:
        raise DownloadFailed(
            f"cannot download {repo_id}: huggingface_hub is not installed (pip install -e '.[ml]')"
        ) from None
    host = urlparse(endpoint or constants.ENDPOINT).netloc or str(endpoint or constants.ENDPOINT)
    try:
        # One listing call first, with no retries: offline, it fails at once instead of after the Hub
        # client's ~25 s of retries and a screen of warnings.
        info = HfApi(endpoint=endpoint).model_info(repo_id, timeout=timeout)
        files = [s.rfilename for s in info.siblings or []]
        patterns = _patterns(files)
        if patterns is None:
            raise DownloadFailed(f"cannot download {repo_id}: it has no PyTorch weights; {by_hand}")
        target.mkdir(parents=True, exist_ok=True)
        snapshot_download(
            repo_id, revision=info.sha, local_dir=target, allow_patterns=patterns, endpoint=endpoint,
            etag_timeout=timeout,
        )
    except DownloadFailed:
        raise
    except Exception as exc:  # the CLI prints one line, whatever the Hub client raised
        raise DownloadFailed(f"cannot download {repo_id}: {_reason(exc, host)}; {by_hand}") from exc
    if not has_weights(target):
        raise DownloadFailed(f"downloaded {repo_id}, but {target} holds no config.json and weights; {by_hand}")
    try:
        FinBertModel(target)  # config readable, labels positive/negative/neutral
    except SentimentUnavailable as exc:
        raise DownloadFailed(f"downloaded {repo_id} into {target}, but {exc}") from exc
    return target


def _patterns(files: list[str]) -> list[str] | None:
    """The files to fetch, or None when the repository has no weights format we can load."""
    for choice in WEIGHT_CHOICES:
        if all(any(fnmatch.fnmatch(f, pattern) for f in files) for pattern in choice):
            return ["config.json", *choice, *(name for name in TOKENIZER_FILES if name in files)]
    return None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:200] if lines else type(exc).__name__


def _has_base(exc: BaseException, names: set[str]) -> bool:
    # The Hub client's HTTP library has changed (requests, httpx, httpx2): match its errors by class name.
    return any(cls.__name__ in names for cls in type(exc).__mro__)


def _reason(exc: BaseException, host: str) -> str:
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

    if isinstance(exc, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set, so no connection to the Hub is made (unset it on a machine with internet)"
    if isinstance(exc, RepositoryNotFoundError):
        return f"no such model on {host} (or it needs a login)"
    if isinstance(exc, HfHubHTTPError):
        response: Any = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        return f"{host} answered HTTP {status}" if status else f"{host} refused: {_first_line(exc)}"
    if isinstance(exc, ConnectionError | TimeoutError) or _has_base(
        exc, {"TransportError", "ConnectionError", "ConnectError", "TimeoutException", "Timeout"}
    ):
        return f"no connection to {host} ({_first_line(exc)})"
    if isinstance(exc, OSError):
        return _first_line(exc)
    return f"{type(exc).__name__}: {_first_line(exc)}"
