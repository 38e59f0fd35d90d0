"""Reading a strategy's parameters: its own keys only, each checked, every refusal one line.

Values come from config (numbers, booleans), from chat requests (strings such as "0.3", "off") and from
stored tips (JSON), so each reader accepts the value or its text and gives back one plain Python type.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def unknown_keys(strategy: str, params: Mapping[str, Any], known: Iterable[str]) -> None:
    """Refuse keys the strategy does not have (another strategy's names, typos), naming the ones it has."""
    allowed = list(known)
    extra = [key for key in params if key not in allowed]
    if extra:
        listed = ", ".join(allowed)
        raise ValueError(f"{strategy} has no parameter {extra[0]!r} (its parameters: {listed})")


def number(key: str, value: Any, low: float | None = None, high: float | None = None, *,
           above: float | None = None) -> float:
    """A finite float within [low, high] (and > `above` when given)."""
    if isinstance(value, bool):
        raise ValueError(f"{key} must be a number, got {value!r}")
    try:
        out = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    if above is not None and out <= above:
        raise ValueError(f"{key} must be greater than {above:g}, got {out:g}")
    if (low is not None and out < low) or (high is not None and out > high):
        raise ValueError(f"{key} must be between {low:g} and {high:g}, got {out:g}")
    return out


def integer(key: str, value: Any, low: int, high: int) -> int:
    """A whole number within [low, high] (3.0 and "3" are 3; 3.5 is refused)."""
    out = number(key, value)
    if out != int(out):
        raise ValueError(f"{key} must be a whole number, got {out:g}")
    if not low <= out <= high:
        raise ValueError(f"{key} must be between {low} and {high}, got {int(out)}")
    return int(out)


def choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    """One of `choices`, case-insensitive."""
    text = str(value).strip().lower()
    if text not in choices:
        raise ValueError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return text


def flag(key: str, value: Any) -> bool:
    """A boolean: true/false, yes/no, on/off, 1/0."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{key} must be on or off, got {value!r}")
