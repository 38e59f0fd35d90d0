# The two set-up commands of the README: `make demo` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch first and pinned: a looser spec (or a package asking for torch) pulls a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: demo test fuzz install install-test redis lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# `live` too: `market.source: live` (ccxt, RSS, Reddit, Redis) must work from the same install as the demo.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[ml,live]'
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[ml,live,test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test redis

# The Redis tests start their own redis-server on a loopback port; install it when missing.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }

demo: install
	$(BIN)/tipster demo

# Two workers: the suite is about half waiting (subprocesses, loopback servers, replay clocks), so two
# processes halve it even on two cores; each worker starts its own redis-server. pytest's exit code 5
# (no tests collected) fails the target like any other non-zero code.
PYTEST_WORKERS ?= 2

test: install-test
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)

# The hypothesis fuzz tests of the core with the `fuzz` profile: 20,000 examples (make test runs 2,000).
fuzz: install-test
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/fuzz

lint: install-test
	$(BIN)/ruff check .

bench: install-test
	$(BIN)/python bench/indicators.py
	$(BIN)/python bench/sentiment_accuracy.py
	$(BIN)/python bench/sentiment.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
