"""Which words name a symbol's asset in a headline: "BTC/USDT" -> btc, bitcoin; "AAPL" -> aapl, apple.

Used by the selection rule (engine.sentiment.collect) to put the texts about the asked asset first.
"""

from __future__ import annotations

import functools
import re

# Quote currencies say nothing about the asset being priced.
QUOTES = frozenset({"USDT", "USDC", "BUSD", "FDUSD"})

# Symbol or base asset -> names that headlines use for it (matched as whole words, case-insensitive).
ALIASES: dict[str, tuple[str, ...]] = {
    "BTC": ("bitcoin", "btc"),
    "ETH": ("ethereum", "ether", "eth"),
    "SOL": ("solana",),
    "XRP": ("xrp", "ripple"),
    "ADA": ("cardano", "ada"),
    "DOGE": ("dogecoin",),  # "DOGE" in 2025 headlines is mostly the US government department
    "LTC": ("litecoin",),
    "SUI": ("sui",),
    "TRX": ("tron",),
    "AAPL": ("apple", "iphone"),
    "GOOG": ("google", "alphabet"),
    "GOOGL": ("google", "alphabet"),
    "MSFT": ("microsoft",),
    "AMZN": ("amazon", "aws"),
    "TSLA": ("tesla",),
    "NVDA": ("nvidia",),
    "META": ("meta",),
    "INTC": ("intel",),
    "WMT": ("walmart",),
    "GS": ("goldman",),
    "PLTR": ("palantir",),
    "SPY": ("s&p 500", "s&p", "stock market", "stocks", "wall street"),
    "QQQ": ("nasdaq",),
    "DIA": ("dow",),
    "GLD": ("gold",),
    "TLT": ("treasury", "bond"),
    "EUR": ("euro", "ecb", "europe", "european"),
    "USD": ("dollar", "fed", "treasury"),
    "JPY": ("yen", "japan"),
    "GBP": ("pound", "sterling"),
}

_WORD = re.compile(r"[a-z0-9&'’-]+")


_STEM = re.compile(r"['’-]")


def base_asset(symbol: str) -> str:
    """The priced asset of a symbol as typed: "BTC/USDT" -> "BTC", "EUR_USD" -> "EUR", "aapl" -> "AAPL"."""
    return re.split(r"[/_:-]", symbol.strip().upper(), maxsplit=1)[0]


def symbol_names(symbol: str) -> tuple[str, ...]:
    """Names a headline may use for `symbol`: the ticker/base itself plus its aliases ("BTC/USDT" -> btc, bitcoin).

    A forex pair names both currencies (either one moving is news for the pair); a crypto quote such as USDT
    names nothing.
    """
    names: list[str] = []
    for part in re.split(r"[/_]", symbol.strip().upper())[:2]:
        if not part or part in QUOTES:
            continue
        names.append(part.lower())
        names.extend(ALIASES.get(part, ()))
    return tuple(dict.fromkeys(names))


def words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


@functools.lru_cache(maxsize=8192)
def _tokens_and_stems(lower: str) -> frozenset[str]:
    """Every word of a text and its stem before ' or - ("btc’s" → btc): monitoring asks this of the same
    headlines every cycle, so it is computed once per text."""
    tokens = words(lower)
    return tokens | {_STEM.split(token, maxsplit=1)[0] for token in tokens}


def mentions(text: str, names: tuple[str, ...]) -> bool:
    """Whether `text` names one of `names`: whole words, or a substring for multi-word names like "s&p 500"."""
    lower = text.lower()
    tokens: frozenset[str] | None = None
    for name in names:
        if " " in name or "&" in name:
            if name in lower:
                return True
            continue
        if tokens is None:
            tokens = _tokens_and_stems(lower)
        # "BTC’s" and "Bitcoin-based" still name bitcoin: the word or its stem before ' or - matches.
        if name in tokens:
            return True
    return False
