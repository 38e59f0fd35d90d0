"""Parsing of command arguments: numbers, key=value overrides, symbols and timeframes."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.core.errors import UserError
from engine.market.resample import TIMEFRAMES
from engine.market.symbols import is_valid_symbol, normalise_symbol

MAX_ARG_LEN = 64

# The one grammar for numbers typed in chat: ASCII digits only. str.isdigit() passes "²", which int() refuses;
# int(), float() and Decimal() take "١٢", "1_000", "1e30000000", "nan" and "inf". None of those is a number here.
_WHOLE_RE = re.compile(r"[0-9]{1,18}")  # 18 digits always fit SQLite's 64-bit INTEGER
_SIGNED_RE = re.compile(r"-?[0-9]+")
_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
MAX_ID = 10**12 - 1  # ids are rowids; twelve digits is more than any table here will reach
MAX_PAGE = 100_000


def ascii_int(text: str, low: int = 0, high: int = MAX_ID) -> int | None:
    """`text` as a whole number in [low, high] if it is 1-18 plain ASCII digits, else None.

    For values the bot itself made (button arguments, stored state): a bad one is refused, never crashes."""
    if not isinstance(text, str) or not _WHOLE_RE.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def parse_int(text: str, name: str, low: int, high: int, usage: str | None = None) -> int:
    """A whole number typed by a user, in [low, high]; anything else is a one-line UserError."""
    raw = text.strip()
    if not _SIGNED_RE.fullmatch(raw):
        raise UserError(f"{name} must be a whole number, not {shorten(text)!r}.", usage)
    # More than 18 digits is out of any range here; int() of it would be fine, SQLite would overflow.
    value = int(raw) if len(raw.lstrip("-")) <= 18 else None
    if value is None or not low <= value <= high:
        raise UserError(f"{name} must be between {low} and {high}.", usage)
    return value


def parse_id(text: str, what: str, usage: str | None = None, hint: str = "") -> int:
    """An id as users type it (`12` or `#12`): plain ASCII digits, 1 to MAX_ID."""
    raw = text.strip().removeprefix("#")
    value = ascii_int(raw, 1, MAX_ID)
    if value is None:
        raise UserError(f"{shorten(text)!r} is not a {what} id{hint}.", usage)
    return value


def parse_page(text: str, usage: str | None = None) -> int:
    value = ascii_int(text.strip(), 1, MAX_PAGE)
    if value is None:
        raise UserError(f"Give a page number: a whole number from 1 to {MAX_PAGE:,}, not {shorten(text)!r}.", usage)
    return value


def plain_decimal(text: str) -> Decimal | None:
    """`text` as a Decimal if it is a plain ASCII decimal (`1500`, `0.25`, `-0.3`), else None: no exponent
    (`1e30000000` would print as thirty million digits), no NaN, no Infinity, no digits of other scripts."""
    if not isinstance(text, str) or len(text) > 40 or not _DECIMAL_RE.fullmatch(text.strip()):
        return None
    return Decimal(text.strip())


def parse_decimal(text: str, name: str, low: Decimal, high: Decimal, usage: str | None = None) -> Decimal:
    """A plain decimal in [low, high] (see plain_decimal)."""
    value = plain_decimal(text)
    if value is None:
        raise UserError(f"{name} must be a plain number like 0.25, not {shorten(text)!r}.", usage)
    if not low <= value <= high:
        raise UserError(f"{name} must be between {low:,f} and {high:,f}.", usage)
    return value


def parse_number(text: str, name: str, low: float, high: float, usage: str | None = None) -> float:
    raw = text.strip()
    if not _DECIMAL_RE.fullmatch(raw):
        try:
            float(raw)  # nan, inf, 1e5, "١": Python's float() reads them, this grammar does not
        except ValueError:
            raise UserError(f"{name} must be a number, not {shorten(text)!r}.", usage) from None
        raise UserError(f"{name} must be a plain number between {low:g} and {high:g}, not {shorten(text)!r}.",
                        usage)
    value = float(raw)
    if not math.isfinite(value) or not low <= value <= high:
        raise UserError(f"{name} must be between {low:g} and {high:g}.", usage)
    return value


MAX_LEVEL_FACTOR = 10  # a stop or target above 10× the market price is a typo (or an attack), not a plan


def check_levels(price: Decimal, stop_loss: Decimal | None, take_profit: Decimal | None,
                 usage: str | None = None) -> None:
    """SL and TP must lie in (0, MAX_LEVEL_FACTOR × price]: bounded relative to the market."""
    ceiling = price * MAX_LEVEL_FACTOR
    for name, level in (("sl", stop_loss), ("tp", take_profit)):
        if level is not None and not (0 < level <= ceiling):
            raise UserError(f"{name} must be above 0 and at most {MAX_LEVEL_FACTOR}× the price ({ceiling:,f}).",
                            usage)


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


def size_arg(notional: Decimal) -> str:
    """A size for a button, to the cent: `250` or `250.50` (str() of a Decimal may give an exponent)."""
    return f"{notional:.0f}" if notional == notional.to_integral_value() else f"{notional:.2f}"


def size_text(notional: Decimal) -> str:
    """A size as views show it: `$250`, or `$250.50` when it has cents."""
    from bot.core.formatting import money

    return money(notional, cents=notional != notional.to_integral_value())


def shorten(text: str, limit: int = 24) -> str:
    """Echo user input back safely: bounded length, no control characters."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
