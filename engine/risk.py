"""Stop-loss and take-profit from ATR (SPEC §2 step 6; seed 000 §1 step 9)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from engine.models import Recommendation


def quantize_price(value: Decimal, decimals: int) -> Decimal:
    """Round a price to the symbol's tick precision (display and storage use the same value)."""
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN)


def stop_levels(
    recommendation: Recommendation | str,
    close: Decimal,
    atr: Decimal,
    sl_atr: float = 2.0,
    tp_atr: float = 3.0,
    decimals: int | None = None,
) -> tuple[Decimal | None, Decimal | None]:
    """BUY: SL = close − sl·ATR, TP = close + tp·ATR; SELL mirrored; HOLD: no levels.

    A long stop can never go below zero: it is floored at one tick so the card never shows a negative price.
    """
    rec = Recommendation(recommendation)
    if rec is Recommendation.HOLD:
        return None, None
    sl_dist = atr * Decimal(str(sl_atr))
    tp_dist = atr * Decimal(str(tp_atr))
    if rec is Recommendation.BUY:
        stop, target = close - sl_dist, close + tp_dist
    else:
        stop, target = close + sl_dist, close - tp_dist
    if decimals is not None:
        tick = Decimal(1).scaleb(-decimals)
        stop, target = quantize_price(stop, decimals), quantize_price(target, decimals)
        stop, target = max(stop, tick), max(target, tick)
    return stop, target
