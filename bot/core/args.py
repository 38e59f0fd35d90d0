"""Parsing of command arguments: numbers, key=value overrides, symbols and timeframes."""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.core.errors import UserError
from engine.config import TIMEFRAMES
from engine.market.symbols import is_valid_symbol, normalise_symbol

MAX_ARG_LEN = 64

# Accepted spellings of the per-request overrides of SPEC §2 step 5.
OVERRIDE_KEYS = {
    "buy": "buy_threshold",
    "buy_threshold": "buy_threshold",
    "sell": "sell_threshold",
    "sell_threshold": "sell_threshold",
    "tw": "technical_weight",
    "technical_weight": "technical_weight",
    "sw": "sentiment_weight",
    "sentiment_weight": "sentiment_weight",
}


def parse_number(text: str, name: str, low: float, high: float, usage: str | None = None) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{name} must be a number, not {shorten(text)!r}.", usage) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise UserError(f"{name} must be between {low:g} and {high:g}.", usage)
    return value


def parse_int(text: str, name: str, low: int, high: int, usage: str | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"{name} must be a whole number, not {shorten(text)!r}.", usage) from None
    if not low <= value <= high:
        raise UserError(f"{name} must be between {low} and {high}.", usage)
    return value


def parse_symbol(text: str, usage: str | None = None) -> str:
    symbol = normalise_symbol(text)
    if len(symbol) > 24 or not is_valid_symbol(symbol):
        raise UserError(f"{shorten(text)!r} is not a market symbol (e.g. BTC/USDT or AAPL).", usage)
    return symbol


def parse_timeframe(text: str, usage: str | None = None) -> str:
    tf = text.strip().lower()
    if tf not in TIMEFRAMES:
        raise UserError(f"Unknown timeframe {shorten(text)!r}; use one of {', '.join(TIMEFRAMES)}.", usage)
    return tf


def parse_timezone(text: str, usage: str | None = None) -> str:
    name = text.strip()
    if name.upper() == "UTC":
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"Unknown timezone {shorten(text)!r}; use a name like Europe/Berlin or UTC.",
                        usage) from None
    if name not in available_timezones():
        raise UserError(f"Unknown timezone {shorten(text)!r}; use a name like Europe/Berlin or UTC.", usage)
    return name


def split_key_values(tokens: list[str], usage: str | None = None) -> tuple[list[str], dict[str, str]]:
    """Positional tokens and `key=value` pairs (keys lower-cased; a repeated key is an error)."""
    positional: list[str] = []
    pairs: dict[str, str] = {}
    for token in tokens:
        if "=" in token:
            key, _, value = token.partition("=")
            key = key.strip().lower()
            if not key or not value:
                raise UserError(f"{shorten(token)!r} needs the form key=value.", usage)
            if key in pairs:
                raise UserError(f"{key} is given twice.", usage)
            pairs[key] = value.strip()
        else:
            positional.append(token)
    return positional, pairs


def parse_overrides(pairs: dict[str, str], usage: str | None = None) -> dict[str, float]:
    """Thresholds and weights given with a command; one weight alone sets the other to 1 − it."""
    out: dict[str, float] = {}
    for key, raw in pairs.items():
        field = OVERRIDE_KEYS.get(key)
        if field is None:
            allowed = "buy=, sell=, tw=, sw="
            raise UserError(f"Unknown option {shorten(key)!r}; options are {allowed}.", usage)
        if field in out:
            raise UserError(f"{field} is given twice.", usage)
        if field.endswith("weight"):
            out[field] = parse_number(raw, key, 0.0, 1.0, usage)
        else:
            out[field] = parse_number(raw, key, -1.0, 1.0, usage)
    tw, sw = out.get("technical_weight"), out.get("sentiment_weight")
    if tw is not None and sw is None:
        out["sentiment_weight"] = round(1.0 - tw, 10)
    elif sw is not None and tw is None:
        out["technical_weight"] = round(1.0 - sw, 10)
    return out


def shorten(text: str, limit: int = 24) -> str:
    """Echo user input back safely: bounded length, no control characters."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
