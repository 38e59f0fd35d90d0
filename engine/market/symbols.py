"""Symbol conventions: which asset class a symbol is, and how it is normalised."""

from __future__ import annotations

import re

from engine.models import AssetClass

# Well-known exchange-traded funds; anything else without "/" is treated as a single stock.
KNOWN_ETFS = frozenset({"SPY", "QQQ", "IWM", "DIA", "VTI", "VOO", "GLD", "SLV", "TLT", "XLF", "XLK", "ARKK"})
_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,14}(/[A-Z0-9]{2,10})?$")
_FOREX_RE = re.compile(r"^[A-Z]{3}_[A-Z]{3}$")


def normalise_symbol(raw: str) -> str:
    """Upper-case and trim; `btc-usdt`/`btcusdt` stay as typed except case (we never guess a split)."""
    return raw.strip().upper()


def is_valid_symbol(symbol: str) -> bool:
    return bool(_SYMBOL_RE.match(symbol) or _FOREX_RE.match(symbol))


def asset_class(symbol: str) -> AssetClass:
    """Seed 000's rule: a symbol with "/" is crypto (ccxt), otherwise a stock or ETF (Alpaca)."""
    if "/" in symbol:
        return AssetClass.CRYPTO
    if _FOREX_RE.match(symbol):
        return AssetClass.FOREX
    if symbol in KNOWN_ETFS:
        return AssetClass.ETF
    return AssetClass.STOCK
