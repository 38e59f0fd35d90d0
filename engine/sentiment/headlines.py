"""BundledHeadlines: a DEMO text source of real headlines shipped with the project.

350 real Finviz headlines (Feb 2025; see data/README.md for the source and licence), tagged by the feed
they came from: crypto, stock, etf or market. "market" mixes finance with politics, so market items are
used only when they contain a finance word and no politics word. Headlines that name the asked symbol
(or its company/coin, via a small alias table) come first; the rest of the pick is the asset class's
relevant headlines, sampled with a seeded generator so a given seed always gives the same texts.
"""

from __future__ import annotations

import csv
import io
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from engine.models import AssetClass

DATA_FILE = "demo_headlines.csv"

# Which feeds serve which asset class; "market" is always filtered for relevance first.
FEEDS: dict[AssetClass, tuple[str, ...]] = {
    AssetClass.CRYPTO: ("crypto",),
    AssetClass.STOCK: ("stock", "market"),
    AssetClass.ETF: ("etf", "market"),
    AssetClass.FOREX: ("market",),
}

FINANCE_WORDS = frozenset(
    """stock stocks shares share market markets dow s&p nasdaq futures earnings revenue revenues profit
    profits loss losses investor investors ipo ipos bond bonds yields yield rates rate inflation fed oil
    gold copper cocoa tariff tariffs prices price sales rally selloff layoffs bankruptcy dollar treasury
    trading traders wall forecast guidance index bank banks funds fund economy economic mortgage deal
    merger refinance loan debt equities equity commodities haven investment exports eurobond buying
    valuation analysts estimates production industrial manufacturing business retailer stores
    shareholder shareholders""".split()
)
POLITICS_WORDS = frozenset(
    """republican republicans democrat democrats senator senators netanyahu hamas pope vatican judge voters
    election impeachment obama biden zelensky diplomat birth union-killing""".split()
)
# Feed words that make a market headline relevant to one asset class in particular.
CLASS_WORDS: dict[AssetClass, frozenset[str]] = {
    AssetClass.CRYPTO: frozenset("bitcoin crypto ethereum blockchain stablecoin memecoin btc".split()),
    AssetClass.FOREX: frozenset(
        "dollar euro yen rates rate fed inflation yields treasury bonds bond ecb currency".split()
    ),
}

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
    "AAPL": ("apple",),
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
    "SPY": ("s&p 500", "s&p", "stock market", "stocks"),
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


@dataclass(frozen=True, slots=True)
class Headline:
    text: str
    feed: str
    words: frozenset[str]


@lru_cache(maxsize=1)
def load_headlines() -> tuple[Headline, ...]:
    raw = resources.files("engine.sentiment").joinpath("data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    seen: set[str] = set()
    out: list[Headline] = []
    for row in csv.DictReader(io.StringIO(raw)):
        text = " ".join(row["headline"].split())
        key = re.sub(r"[^a-z0-9]", "", text.lower())
        if not text or key in seen:  # the feed repeats stories with different apostrophes
            continue
        seen.add(key)
        out.append(Headline(text, row["news_type"].strip(), frozenset(_WORD.findall(text.lower()))))
    return tuple(out)


def is_relevant(headline: Headline, asset: AssetClass) -> bool:
    if headline.feed not in FEEDS[asset]:
        return False
    if headline.feed != "market":
        return True
    if headline.words & POLITICS_WORDS or not headline.words & FINANCE_WORDS:
        return False
    class_words = CLASS_WORDS.get(asset)
    return class_words is None or bool(headline.words & class_words)


def symbol_names(symbol: str) -> tuple[str, ...]:
    """Names a headline may use for `symbol`: the ticker/base itself plus its aliases ("BTC/USDT" -> BTC)."""
    names: list[str] = []
    for part in re.split(r"[/_]", symbol.upper())[:2]:
        if part in ("USDT", "USDC", "BUSD"):
            continue  # the quote currency says nothing about the asset
        names.append(part.lower())
        names.extend(ALIASES.get(part, ()))
    return tuple(dict.fromkeys(names))


def mentions(headline: Headline, names: tuple[str, ...]) -> bool:
    lower = headline.text.lower()
    for name in names:
        if " " in name or "&" in name:
            if name in lower:
                return True
        elif name in headline.words:
            return True
    return False


class BundledHeadlines:
    """Real headlines bundled with Tipster, picked for relevance; always DEMO (they are not today's news)."""

    name = "bundled headlines (Finviz, Feb 2025)"
    demo = True

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def pick(self, symbol: str, asset: AssetClass, limit: int, seed: int | None = None) -> list[str]:
        if limit <= 0:
            return []
        names = symbol_names(symbol)
        pool = [h for h in load_headlines() if is_relevant(h, asset)]
        named = [h.text for h in pool if mentions(h, names)]
        others = [h.text for h in pool if not mentions(h, names)]
        # A string seed is hashed deterministically by `random`, so each symbol gets its own stable mix.
        rng = random.Random(f"{self.seed if seed is None else seed}:{symbol}:{asset.value}")
        rng.shuffle(named)
        rng.shuffle(others)
        chosen = (named + others)[:limit]
        rng.shuffle(chosen)
        return chosen

    async def fetch_texts(
        self, symbol: str, asset: AssetClass, limit: int, seed: int | None = None
    ) -> list[str]:
        return self.pick(symbol, asset, limit, seed)
