"""`tipster download-model` as a user runs it here (no internet): one clear line and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("env", [{"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}])
def test_download_model_fails_with_one_line_offline(tmp_path: Path, env: dict[str, str]) -> None:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("TIPSTER_", "HF_"))} | env
    done = subprocess.run([sys.executable, "-m", "bot.cli", "download-model", "--path", str(tmp_path / "fb")],
                          cwd=ROOT, env=full, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tipster: cannot download ProsusAI/finbert"), done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "fb" / "config.json").exists()
