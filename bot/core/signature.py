"""A command's arguments, declared once: what text parsing, Discord's slash options, /help and every usage
line are generated from.

A command declares positional arguments (in order) and keyed options (`buy=0.3`). Typed text
(Telegram, console) is parsed by `Signature.parse_text`; named values (Discord's slash options, turned back
into text by the adapter) by `Signature.parse_named`. Both run the same parser per argument, so a value is
refused with the same one line wherever it was typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bot.core.args import (
    MAX_ID,
    MAX_PAGE,
    parse_decimal,
    parse_id,
    parse_int,
    parse_number,
    parse_page,
    parse_symbol,
    parse_timeframe,
    parse_timezone,
    shorten,
)
from bot.core.errors import UserError
from engine.market.resample import TIMEFRAMES


class Kind(StrEnum):
    SYMBOL = "symbol"  # a market symbol, normalised (BTC/USDT, AAPL)
    TIMEFRAME = "timeframe"  # one of engine.market.resample.TIMEFRAMES
    INT = "int"  # a whole number in [low, high]
    PAGE = "page"  # a page number, 1 and up
    ID = "id"  # a stored row's id as users type it (12 or #12)
    NUMBER = "number"  # a plain decimal number in [low, high], as a float (thresholds, weights)
    MONEY = "money"  # a plain decimal amount in [low, high], as a Decimal
    CHOICE = "choice"  # one of `choices` (case-insensitive)
    TIMEZONE = "timezone"  # an IANA zone name or UTC
    USER = "user"  # a user as admins name one (telegram:123, or a bare id); resolved by the use case
    WORD = "word"  # one token, checked by `parser` when given
    TEXT = "text"  # the rest of the message, as typed (last positional only)
    PARAMS = "params"  # keyed: every other key=value given (a strategy's own parameters), as a dict of texts


# Discord's value types for each kind; a kind that also accepts literal words (`ID|all`) is a string.
_OPTION_TYPES = {Kind.INT: "integer", Kind.PAGE: "integer", Kind.ID: "integer", Kind.NUMBER: "number",
                 Kind.MONEY: "number"}
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_TEXT = 1000  # the core refuses longer messages anyway; a slash option is held to the same


@dataclass(frozen=True)
class Arg:
    """One argument. Positional unless `keyed` (typed as `name=value`); `words` are literal alternatives
    accepted besides the kind's values (`/close all`, `/activate 12 forever`)."""

    name: str
    kind: Kind
    help: str
    required: bool = False
    keyed: bool = False
    choices: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    low: float | int | Decimal | None = None
    high: float | int | Decimal | None = None
    aliases: tuple[str, ...] = ()  # other spellings of a keyed option (buy_threshold for buy)
    metavar: str | None = None  # how usage shows it (SYMBOL, ID, DAYS)
    example: str | None = None  # a keyed option's example value in usage (buy=0.3)
    # Returns the value or raises UserError: WORD's check, or a command's own reading of its kind (a MONEY
    # size typed as "$1,500"); the kind still gives Discord the option's type and range.
    parser: Callable[[str], Any] | None = None
    default: Any = None
    what: str = ""  # for ID: what the id names, for its error ("tip" → "'x' is not a tip id")

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name):
            raise ValueError(f"argument name {self.name!r} is not a valid option name")
        if self.kind is Kind.CHOICE and not self.choices:
            raise ValueError(f"choice argument {self.name} has no choices")
        if self.kind is Kind.TEXT and self.keyed:
            raise ValueError("a TEXT argument is the rest of the message, it cannot be keyed")

    # ---- how it is shown ------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        if self.metavar:
            return self.metavar
        if self.kind is Kind.CHOICE:
            return "|".join(self.choices)
        base = self.name.upper()
        return "|".join((base, *self.words)) if self.words else base

    def usage(self) -> str:
        if self.kind is Kind.PARAMS:
            return "[key=value …]"
        if self.keyed:
            shown = f"{self.name}={self.example or self.label}"
        else:
            shown = self.label
        return shown if self.required else f"[{shown}]"

    @property
    def option_type(self) -> str:
        """Discord's type for this argument: string, integer or number."""
        return "string" if self.words else _OPTION_TYPES.get(self.kind, "string")

    @property
    def option_choices(self) -> tuple[str, ...]:
        if self.kind is Kind.CHOICE:
            return self.choices
        if self.kind is Kind.TIMEFRAME:
            return tuple(TIMEFRAMES)
        return ()

    @property
    def option_range(self) -> tuple[float | int | None, float | int | None]:
        """Discord's min_value and max_value for a numeric option (None: unbounded on that side)."""
        if self.option_type == "string":
            return None, None
        if self.kind is Kind.PAGE:
            return 1, MAX_PAGE
        if self.kind is Kind.ID:
            return 1, MAX_ID
        low = None if self.low is None else (int(self.low) if self.kind is Kind.INT else float(self.low))
        high = None if self.high is None else (int(self.high) if self.kind is Kind.INT else float(self.high))
        return low, high

    @property
    def autocomplete(self) -> bool:
        return self.kind in (Kind.SYMBOL, Kind.TIMEZONE)

    # ---- parsing ---------------------------------------------------------------------------------------

    def parse(self, raw: str) -> Any:
        """This argument's value from the text a user typed (or a slash option turned into text)."""
        text = raw.strip()
        if self.words and text.lower() in self.words:
            return text.lower()
        if self.parser is not None:
            return self.parser(text)
        kind = self.kind
        name = self.metavar or self.name
        if kind is Kind.SYMBOL:
            return parse_symbol(text)
        if kind is Kind.TIMEFRAME:
            return parse_timeframe(text)
        if kind is Kind.INT:
            return parse_int(text, name, int(self.low if self.low is not None else 0),
                             int(self.high if self.high is not None else MAX_ID))
        if kind is Kind.PAGE:
            return parse_page(text)
        if kind is Kind.ID:
            return parse_id(text, self.what or self.name)
        if kind is Kind.NUMBER:
            return parse_number(text, name, float(self.low if self.low is not None else -1e18),
                                float(self.high if self.high is not None else 1e18))
        if kind is Kind.MONEY:
            return parse_decimal(text, name, Decimal(str(self.low if self.low is not None else 0)),
                                 Decimal(str(self.high if self.high is not None else 10**12)))
        if kind is Kind.CHOICE:
            word = text.lower()
            if word not in self.choices:
                raise UserError(f"{name} must be one of {', '.join(self.choices)}, not {shorten(text)!r}.")
            return word
        if kind is Kind.TIMEZONE:
            return parse_timezone(text)
        if kind is Kind.TEXT:
            if len(text) > MAX_TEXT:
                raise UserError(f"{name} is too long ({len(text)} characters; at most {MAX_TEXT}).")
            return text
        if kind is Kind.USER:
            return text
        if kind is Kind.PARAMS:
            pairs: dict[str, str] = {}
            for token in text.split():
                add_param(pairs, token)
            return pairs
        return text


_PARAM_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")


def add_param(pairs: dict[str, str], token: str) -> None:
    """One `key=value` of a PARAMS argument: a lower-case name and a short value, each key once."""
    key, eq, value = token.partition("=")
    key = key.strip().lower()
    if not eq or not _PARAM_KEY.fullmatch(key) or not value or len(value) > 40:
        raise UserError(f"{shorten(token)!r} is not a parameter: give key=value (e.g. rsi_length=10).")
    if key in pairs:
        raise UserError(f"{key} is given twice.")
    pairs[key] = value


@dataclass(frozen=True)
class Signature:
    """A command's arguments in order; keyed options may come anywhere before a TEXT argument.

    `ignore_extra`: typed text from the first word past the declared positional arguments on is dropped
    instead of refused. For /start, whose Telegram deep links (t.me/bot?start=PAYLOAD) send `/start PAYLOAD`:
    the payload means nothing here, so it is no argument (no usage placeholder, no Discord option), just not
    an error."""

    args: tuple[Arg, ...] = ()
    ignore_extra: bool = False
    positional: tuple[Arg, ...] = field(init=False)
    keyed: dict[str, Arg] = field(init=False)  # every spelling → its argument

    def __post_init__(self) -> None:
        positional = tuple(a for a in self.args if not a.keyed)
        keyed: dict[str, Arg] = {}
        for arg in self.args:
            if arg.keyed:
                for spelling in (arg.name, *arg.aliases):
                    if spelling in keyed:
                        raise ValueError(f"option {spelling} declared twice")
                    keyed[spelling] = arg
        if any(a.kind is Kind.PARAMS and not a.keyed for a in self.args) or \
                sum(a.kind is Kind.PARAMS for a in self.args) > 1:
            raise ValueError("at most one PARAMS argument, and it is keyed")
        names = [a.name for a in self.args]
        if len(set(names)) != len(names):
            raise ValueError(f"argument names repeat: {names}")
        for i, arg in enumerate(positional):
            if arg.kind is Kind.TEXT and i != len(positional) - 1:
                raise ValueError("a TEXT argument must be the last positional one")
            if arg.required and any(not a.required for a in positional[:i]):
                raise ValueError(f"required {arg.name} follows an optional argument")
        object.__setattr__(self, "positional", positional)
        object.__setattr__(self, "keyed", keyed)

    def usage(self, command: str) -> str:
        parts = [f"/{command}", *(a.usage() for a in self.positional), *(a.usage() for a in self.args if a.keyed)]
        return " ".join(parts)

    def defaults(self) -> dict[str, Any]:
        return {a.name: ({} if a.kind is Kind.PARAMS else a.default) for a in self.args}

    @property
    def params_arg(self) -> Arg | None:
        return next((a for a in self.args if a.kind is Kind.PARAMS), None)

    def parse_text(self, rest: str) -> dict[str, Any]:
        """Values from what follows the command word: positional tokens in order, `key=value` options, and
        for a TEXT argument the rest of the message exactly as typed (line breaks and spacing kept)."""
        values = self.defaults()
        seen: set[str] = set()
        index = 0
        for match in re.finditer(r"\S+", rest):
            token = match.group()
            next_arg = self.positional[index] if index < len(self.positional) else None
            if next_arg is not None and next_arg.kind is Kind.TEXT:
                values[next_arg.name] = next_arg.parse(rest[match.start():])
                index += 1
                break
            if "=" in token and self.keyed:
                key, _, raw = token.partition("=")
                arg = self.keyed.get(key.strip().lower())
                if (arg is None or arg.kind is Kind.PARAMS) and self.params_arg is not None:
                    add_param(values[self.params_arg.name], token)  # a strategy's own parameter
                    continue
                if arg is None:
                    options = ", ".join(f"{a.name}=" for a in self.args if a.keyed)
                    raise UserError(f"Unknown option {shorten(key)!r}; options are {options}.")
                if not raw:
                    shape = f"{arg.name}={arg.example or arg.label}"
                    raise UserError(f"{shorten(token)!r} needs the form key=value ({shape}).")
                if arg.name in seen:
                    raise UserError(f"{arg.name} is given twice.")
                seen.add(arg.name)
                values[arg.name] = arg.parse(raw)
                continue
            if next_arg is None:
                if self.ignore_extra:
                    break
                if not self.positional:
                    raise UserError(f"This command takes no arguments, not {shorten(token)!r}.")
                labels = " ".join(a.label for a in self.positional)
                raise UserError(f"Too many arguments ({shorten(rest[match.start():].strip())!r}); "
                                f"this command takes at most {len(self.positional)} ({labels}).")
            index = self._positional(values, seen, index, token)
        self._require(values, seen | {a.name for a in self.positional[:index]})
        return values

    def _positional(self, values: dict[str, Any], seen: set[str], index: int, token: str) -> int:
        """Give `token` to the next positional argument. An optional timeframe or choice — a closed list of words
        — that the token is not one of is skipped when a later argument takes it (`/backtest BTC/USDT 90d`: no
        timeframe, a period); a number out of its range is an error, never a skip. Returns the next index."""
        first_error: UserError | None = None
        for i in range(index, len(self.positional)):
            arg = self.positional[i]
            if arg.kind is Kind.TEXT:
                break
            try:
                values[arg.name] = arg.parse(token)
            except UserError as exc:
                first_error = first_error or exc
                if arg.required or arg.kind not in (Kind.TIMEFRAME, Kind.CHOICE):
                    break
                continue
            seen.add(arg.name)
            return i + 1
        assert first_error is not None
        raise first_error

    def parse_named(self, given: Mapping[str, str]) -> dict[str, Any]:
        """Values from named options (Discord): each text parsed by its argument, as if typed."""
        values = self.defaults()
        by_name = {a.name: a for a in self.args}
        for name, raw in given.items():
            arg = by_name.get(name)
            if arg is None:
                raise UserError(f"Unknown option {shorten(name)!r}.")
            values[name] = arg.parse(raw)
        self._require(values, set(given))
        return values

    def _require(self, values: dict[str, Any], given: set[str]) -> None:
        for arg in self.args:
            if arg.required and arg.name not in given:
                raise UserError(f"Give {arg.label}: {arg.help}.")
