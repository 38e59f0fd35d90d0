"""Stop-loss and take-profit from ATR (SPEC §2 step 6; seed 000 §1 step 9)."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal

from engine.models import Recommendation

# Wide enough that price ± k·ATR is exact for any two floats written out in full (≤ 17 digits each, any
# exponents a price can have): the only rounding is the one to the tick below.
_EXACT = Context(prec=80)


def quantize_price(value: Decimal, decimals: int) -> Decimal:
    """Round a price to the symbol's tick precision (display and storage use the same value)."""
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN)


def exact(value: Decimal | float) -> Decimal:
    """A float from the data as the decimal it was written as (repr: the shortest string that reads back the
    same float), so 187.12 is 187.12 and not 187.1199999…; a Decimal stays as it is."""
    return value if isinstance(value, Decimal) else Decimal(repr(float(value)))


def stop_levels(
    recommendation: Recommendation | str,
    close: Decimal | float,
    atr: Decimal | float,
    sl_atr: float = 2.0,
    tp_atr: float = 3.0,
    decimals: int | None = None,
) -> tuple[Decimal | None, Decimal | None]:
    """BUY: SL = close − sl·ATR, TP = close + tp·ATR; SELL mirrored; HOLD: no levels.

    Computed exactly from the unrounded price and ATR (pass the floats, not values already rounded for
    display) and rounded once to the tick: stops away from the price, targets toward it, so a rounded level
    never promises a tighter stop or a richer target than the ATR rule gives. A long stop (and a short's
    target) can never go below zero: it is floored at one tick so the card never shows a negative price.
    """
    rec = Recommendation(recommendation)
    if rec is Recommendation.HOLD:
        return None, None
    price, size = exact(close), exact(atr)
    sl_dist = _EXACT.multiply(size, Decimal(str(sl_atr)))
    tp_dist = _EXACT.multiply(size, Decimal(str(tp_atr)))
    if rec is Recommendation.BUY:
        stop, target = _EXACT.subtract(price, sl_dist), _EXACT.add(price, tp_dist)
        stop_rounding, target_rounding = ROUND_FLOOR, ROUND_FLOOR
    else:
        stop, target = _EXACT.add(price, sl_dist), _EXACT.subtract(price, tp_dist)
        stop_rounding, target_rounding = ROUND_CEILING, ROUND_CEILING
    if decimals is not None:
        tick = Decimal(1).scaleb(-decimals)
        stop = stop.quantize(tick, rounding=stop_rounding, context=_EXACT)
        target = target.quantize(tick, rounding=target_rounding, context=_EXACT)
        stop, target = max(stop, tick), max(target, tick)
    return stop, target
