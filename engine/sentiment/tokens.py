"""Turn a headline or sentence into lower-case tokens the lexicon scorer understands.

Kept deliberately simple and fast (regexes only): the scorer needs words, clause boundaries, numbers and a
few finance-specific marks (currency, signed percentages), not linguistics.
"""

from __future__ import annotations

import re

NUM = "_num_"  # any number; its value is kept aside (see tokenize_with_numbers)
PCT_UP = "_pctup_"  # "+3.2%": a price move up written as a signed percentage (common in tweets)
PCT_DOWN = "_pctdown_"  # "-2.7%"
BOUNDARY = "|"  # end of a clause: objects are never searched across it
OPEN_PAREN = "("  # kept apart from BOUNDARY because "EUR 5.1 mn (EUR 4.2 mn)" compares two figures
BREAKS = frozenset({BOUNDARY, OPEN_PAREN})

_URL = re.compile(r"https?://\S+|www\.\S+")
_CASHTAG = re.compile(r"\$[a-z][a-z.]{0,9}\b")  # "$aapl" names a ticker, it carries no sentiment
_SIGNED_PCT = re.compile(r"(?:(?<=[\s(\[])|^)([+-])\s?\d+(?:[.,]\d+)?\s?%")
# "EPS of -$0.80": a negative amount (a loss) when a minus sign directly precedes a figure.
_MINUS_AMOUNT = re.compile(r"(?:(?<=[\s(\[])|^)-\s?[$€£]?\d+(?:[.,]\d+)?(?!\s?%)")
MINUS_AMOUNT = "_minus_amount_"
_NEGATED_VERB = re.compile(r"n['’]t\b")
_CURRENCY = {"$": " usd ", "€": " eur ", "£": " gbp ", "%": " percent "}
_CURRENCY_RE = re.compile(r"[$€£%]")
_TOKEN = re.compile(r"[a-z]+(?:['’][a-z]+)?|_pct(?:up|down)_|_minus_amount_|\d+(?:[.,]\d+)*|[,;:.!?()\[\]]")
_PUNCT = frozenset(",;:.!?)[]")


def tokenize(text: str) -> list[str]:
    """Lower-case tokens; numbers become NUM, punctuation becomes BOUNDARY, "n't" becomes "not"."""
    return tokenize_with_numbers(text)[0]


def tokenize_with_numbers(text: str) -> tuple[list[str], dict[int, float]]:
    """Tokens as in `tokenize`, plus the value of each NUM token by its index."""
    s = text.lower()
    s = _URL.sub(" ", s)
    s = _CASHTAG.sub(" ", s)
    s = _SIGNED_PCT.sub(lambda m: f" {PCT_UP if m.group(1) == '+' else PCT_DOWN} ", s)
    s = _MINUS_AMOUNT.sub(f" {MINUS_AMOUNT} ", s)
    s = _NEGATED_VERB.sub(" not", s)
    s = _CURRENCY_RE.sub(lambda m: _CURRENCY[m.group(0)], s)
    out: list[str] = []
    values: dict[int, float] = {}
    for tok in _TOKEN.findall(s):
        if tok in _PUNCT:
            if out and out[-1] not in BREAKS:
                out.append(BOUNDARY)
        elif tok == OPEN_PAREN:
            out.append(OPEN_PAREN)
        elif tok[0].isdigit():
            value = _parse_number(tok)
            if value is not None:
                values[len(out)] = value
            out.append(NUM)
        elif tok.endswith(("'s", "’s")):
            # Possessives ("company's") add nothing; drop the suffix rather than keep a second word.
            out.append(tok[:-2])
        else:
            out.append(tok)
    if out and out[-1] in BREAKS:
        out.pop()
    return out, values


def _parse_number(tok: str) -> float | None:
    # "1,200" is a thousands separator, "13,1" (European decimal comma) is rare in English news.
    if "," in tok and "." not in tok and re.fullmatch(r"\d{1,3}(,\d{3})+", tok) is None:
        tok = tok.replace(",", ".")
    try:
        return float(tok.replace(",", ""))
    except ValueError:
        return None
