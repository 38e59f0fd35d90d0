"""The strategies by name: requests (`strategy=`), user settings and config choose one of `names()`.

Each lives in `engine/strategies/<name>.py` and exposes `STRATEGY`, an object following
`engine.strategies.base.Strategy`. Modules are imported on first use, so a strategy whose module cannot be
imported (missing, or a dependency absent) leaves the others working; the list of names is fixed and always
complete, so a refusal names every strategy.

A strategy built on the fused rule (it takes fused's buy/sell/tw/sw/macd_scale/sl_atr/tp_atr among its own
keys) says so with `extends = "fused"`: the live tip then seeds its parameters from the user's thresholds
and weights as it does for `fused` (engine.signals).
"""

from __future__ import annotations

import importlib
import threading

from engine.strategies.base import Strategy

NAMES = ("fused", "hyperrsi", "grid", "options")
DEFAULT = "fused"

_loaded: dict[str, Strategy] = {}
_lock = threading.Lock()


def names() -> list[str]:
    """Every strategy's name, the default first."""
    return list(NAMES)


def listing() -> str:
    return ", ".join(NAMES)


def get(name: str | None = None) -> Strategy:
    """The strategy called `name` (case-insensitive; None or "" is the default), or ValueError listing them."""
    key = (name or DEFAULT).strip().lower()
    if key not in NAMES:
        raise ValueError(f"Unknown strategy {name!r}: choose one of {listing()}")
    cached = _loaded.get(key)
    if cached is not None:
        return cached
    with _lock:
        if key not in _loaded:
            _loaded[key] = _load(key)
        return _loaded[key]


def _load(key: str) -> Strategy:
    try:
        module = importlib.import_module(f"engine.strategies.{key}")
    except ImportError as exc:
        raise ValueError(f"The {key} strategy is not available here ({exc}); "
                         f"strategies: {listing()}") from None
    strategy = getattr(module, "STRATEGY", None)
    if strategy is None or not callable(getattr(strategy, "decide", None)):
        raise ValueError(f"The {key} strategy is not available here (engine.strategies.{key} has no "
                         f"STRATEGY); strategies: {listing()}")
    return strategy


def resolve(strategy: Strategy | str | None) -> Strategy:
    """A strategy object from itself, its name, or None (the default)."""
    return strategy if strategy is not None and not isinstance(strategy, str) else get(strategy)
