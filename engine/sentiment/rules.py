"""The rule-based part of the offline model: VADER-style rules over financial word lists.

What it adds to a plain lexicon, and why (financial news is mostly about direction, not emotion):
- direction words take their sign from what moves: "profit rose" is good, "costs rose" and "loss widened"
  are bad, "loss narrowed" and "cut costs" are good ("bad" objects flip the sign);
- two figures compared ("to EUR 13.1 mn from EUR 8.7 mn", "EUR 5.1 mn (EUR 4.2 mn)") count as a move;
- negation, intensifiers, "but" and "despite" clauses are weighted as in VADER;
- general-language words (VADER) are kept apart from finance words, so a trained layer on top can
  trust them less.

The result is four sums (finance positive/negative, general positive/negative) that the offline model
turns into class probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from engine.sentiment.lexicon import Lexicon, load_lexicon
from engine.sentiment.tokens import (
    BOUNDARY,
    BREAKS,
    NUM,
    OPEN_PAREN,
    PCT_DOWN,
    PCT_UP,
    tokenize_with_numbers,
)

# Words that end the clause a direction word can take its subject or object from.
_CLAUSE_WORDS = frozenset(
    {"and", "but", "while", "whereas", "as", "after", "despite", "although", "though", "because", "which"}
)
_LEFT_WINDOW = 6  # subjects come first in headlines and can sit behind a modifier ("operating loss for Q2")
_RIGHT_WINDOW = 4  # objects follow closely ("cut its net debt")
_NEGATION_WINDOW = 3
_NEGATION_FACTOR = -0.74  # VADER's value
_BOOST_WINDOW = 2
# "up"/"down" are moves only when a figure or a comparison follows ("up 5%", "down from") or when their
# subject is right before them ("shares up"); "team up", "shut ... down" are not moves.
_MOVE_FOLLOWERS = frozenset(
    {NUM, PCT_UP, PCT_DOWN, BOUNDARY, OPEN_PAREN}
    | set(
        "from by on over in after today for sharply slightly nearly almost more about usd eur percent"
        " than".split()
    )
)
_UP_DOWN = frozenset({"up", "down"})
_NEEDS_OBJECT = frozenset({"more", "less", "fewer", "larger", "greater", "bigger", "smaller"})
# A headline that asks "Is X a good stock to buy?" reports nothing yet: its evidence counts little.
_QUESTION_OPENERS = frozenset(
    {"is", "are", "should", "can", "could", "will", "would", "does", "do", "did", "has", "have"}
)
_QUESTION_FACTOR = 0.3
# Units that show two numbers are amounts ("EUR 5.1 mn"), not dates or counts ("from 14 to 25 April").
_UNITS = frozenset(
    "usd eur gbp sek nok dkk jpy chf cad aud percent pct mn m bn b million billion thousand dollars"
    " euros cents points mln bln pts".split()
)
_MONTHS = frozenset(
    "january february march april may june july august september october november december"
    " jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_COMPARE_WEIGHT = 0.8
_MOVE, _DIR, _FIN, _GEN = 0, 1, 2, 3  # channels, in RuleScores field order


@dataclass(frozen=True, slots=True)
class RuleScores:
    """Evidence by channel; every field is >= 0 (the *_neg fields hold the size of negative evidence)."""

    move_pos: float = 0.0  # direction words with a figure: "rose 5%", "to EUR 13.1 mn from EUR 8.7 mn"
    move_neg: float = 0.0
    dir_pos: float = 0.0  # direction words without a figure: "profit rose", "cut jobs"
    dir_neg: float = 0.0
    fin_pos: float = 0.0  # evaluative finance words: "upgrade", "beat", "bankruptcy"
    fin_neg: float = 0.0
    gen_pos: float = 0.0  # general-language words (VADER)
    gen_neg: float = 0.0

    @property
    def net(self) -> float:
        return (
            self.move_pos
            - self.move_neg
            + self.dir_pos
            - self.dir_neg
            + self.fin_pos
            - self.fin_neg
            + self.gen_pos
            - self.gen_neg
        )

    def as_list(self) -> list[float]:
        return [
            self.move_pos,
            self.move_neg,
            self.dir_pos,
            self.dir_neg,
            self.fin_pos,
            self.fin_neg,
            self.gen_pos,
            self.gen_neg,
        ]


FEATURES: tuple[str, ...] = (
    "move_pos",
    "move_neg",
    "dir_pos",
    "dir_neg",
    "fin_pos",
    "fin_neg",
    "gen_pos",
    "gen_neg",
)
_MOVE_WINDOW = 4  # "rose by 5%", "fell to EUR 3 mn", "up 2.6%": a figure follows closely
_DEAL_WINDOW = 6  # "won a EUR 40 million order"


def merge_phrases(
    tokens: list[str], lex: Lexicon, values: dict[int, float]
) -> tuple[list[str], dict[int, float]]:
    """Greedy longest-first replacement of known phrases by one token; number indices follow along."""
    if lex.max_phrase < 2:
        return tokens, values
    out: list[str] = []
    new_values: dict[int, float] = {}
    i, n = 0, len(tokens)
    while i < n:
        for size in range(min(lex.max_phrase, n - i), 1, -1):
            merged = lex.phrases.get(tuple(tokens[i : i + size]))
            if merged is not None:
                out.append(merged)
                i += size
                break
        else:
            if i in values:
                new_values[len(out)] = values[i]
            out.append(tokens[i])
            i += 1
    return out, new_values


def _is_break(tok: str) -> bool:
    return tok in BREAKS or tok in _CLAUSE_WORDS


def find_object(tokens: list[str], i: int, lex: Lexicon) -> int:
    """Index of the nearest word with an object role in token i's clause, or -1. Left wins ties."""
    roles = lex.roles
    left = right = -1
    for j in range(i - 1, max(-1, i - 1 - _LEFT_WINDOW), -1):
        if _is_break(tokens[j]):
            break
        if tokens[j] in roles:
            left = j
            break
    for j in range(i + 1, min(len(tokens), i + 1 + _RIGHT_WINDOW)):
        if _is_break(tokens[j]):
            break
        if tokens[j] in roles:
            right = j
            break
    if left < 0 and right < 0:
        return -1
    j = left if right < 0 or (left >= 0 and i - left <= right - i) else right
    # In a compound noun the modifier says what moves: "delinquency rate", "unemployment rate".
    if roles[tokens[j]][0] == "damp" and j > 0 and roles.get(tokens[j - 1], ("damp", 0.0))[0] != "damp":
        j -= 1
    return j


def _compare_figures(tokens: list[str], values: dict[int, float]) -> list[tuple[int, float]]:
    """(position, +1/-1) for every "to A from B", "from B to A", "A compared to B" and "A (B)" found."""
    found: list[tuple[int, float]] = []
    nums = sorted(values)
    for a_pos, b_pos in pairwise(nums):
        between = tokens[a_pos + 1 : b_pos]
        if len(between) > 5 or any(t == "|" for t in between):
            continue
        # "to" may sit inside a merged phrase ("cut to", "raised to").
        before = [t.rsplit(" ", 1)[-1] for t in tokens[max(0, a_pos - 3) : a_pos]]
        if "from" in between and "to" in before:
            new, old = values[a_pos], values[b_pos]  # "... to A from B"
        elif "to" in between and "from" in before:
            new, old = values[b_pos], values[a_pos]  # "... from B to A"
        elif "(" in between or "compared" in between or "versus" in between or "vs" in between:
            new, old = values[a_pos], values[b_pos]
        else:
            continue
        near = set(tokens[max(0, a_pos - 2) : a_pos + 3]) | set(tokens[b_pos - 2 : b_pos + 3])
        if not near & _UNITS or near & _MONTHS or new == old:
            continue
        if all(v.is_integer() and 1900 <= v <= 2100 for v in (new, old)):
            continue  # "from 2019 to 2020"
        found.append((a_pos, 1.0 if new > old else -1.0))
    return found


def score_tokens(raw_tokens: list[str], raw_values: dict[int, float], lex: Lexicon) -> RuleScores:
    tokens, values = merge_phrases(raw_tokens, lex, raw_values)
    n = len(tokens)
    val = [0.0] * n
    channel = [_GEN] * n
    consumed = [False] * n
    valence = lex.valence

    def direction(i: int, weight: float, quantified: bool = False) -> None:
        j = find_object(tokens, i, lex)
        if j >= 0:
            role, factor = lex.roles[tokens[j]]
            weight *= factor  # jobs matter more than most things that move; prices, rates less
            if role == "bad":
                weight = -weight
                consumed[j] = True  # "loss" in "loss narrowed" is not also a negative word
        val[i] += weight
        if quantified or _figure_follows(tokens, i, values):
            channel[i] = _MOVE
        elif channel[i] != _MOVE:
            channel[i] = _DIR

    for i, tok in enumerate(tokens):
        entry = valence.get(tok)
        if entry is not None and entry[0] == "dir" and _is_move(tokens, i, lex):
            direction(i, entry[1])
    for pos, sign in _compare_figures(tokens, values):
        direction(pos, sign * _COMPARE_WEIGHT, quantified=True)

    general = lex.general
    for i, tok in enumerate(tokens):
        if val[i] or consumed[i]:
            continue
        entry = valence.get(tok)
        if entry is not None:
            if entry[0] == "fin":
                val[i] = entry[1]
                channel[i] = _MOVE if tok in lex.wins and _deal_follows(tokens, i, lex) else _FIN
            continue
        g = general.get(tok)
        if g is not None:
            val[i] = g

    _apply_modifiers(tokens, val, lex)
    if tokens and tokens[0] in _QUESTION_OPENERS:
        val = [v * _QUESTION_FACTOR for v in val]

    sums = [0.0] * 8
    for v, ch in zip(val, channel, strict=True):
        if v > 0:
            sums[2 * ch] += v
        elif v < 0:
            sums[2 * ch + 1] -= v
    return RuleScores(*sums)


def _is_move(tokens: list[str], i: int, lex: Lexicon) -> bool:
    """Filter out the many non-moves among direction words: "team up", "read more", "sign up"."""
    tok = tokens[i]
    if tok in _UP_DOWN:
        # A move has a figure or a comparison after it ("up 5%", "down from") or its subject just before
        # it ("shares up", "revenue down").
        if i + 1 == len(tokens) or tokens[i + 1] in _MOVE_FOLLOWERS:
            return True
        return any(tokens[j] in lex.roles or tokens[j] == NUM for j in range(max(0, i - 2), i))
    if tok in _NEEDS_OBJECT:
        # "more passengers", "fewer orders" are moves; "more likely", "read more" are not.
        return any(tokens[j] in lex.roles for j in range(i + 1, min(len(tokens), i + 3)))
    return True


def _deal_follows(tokens: list[str], i: int, lex: Lexicon) -> bool:
    for j in range(i + 1, min(len(tokens), i + 1 + _DEAL_WINDOW)):
        if tokens[j] in BREAKS:
            return False
        if tokens[j] in lex.deals:
            return True
    return False


def _figure_follows(tokens: list[str], i: int, values: dict[int, float]) -> bool:
    """A figure right after ("rose 5%", "fell to EUR 3 mn") or just before ("9% more", "5% rise")."""
    for j in range(i - 1, max(-1, i - 3), -1):
        if tokens[j] in BREAKS:
            break
        if j in values:
            return True
    for j in range(i + 1, min(len(tokens), i + 1 + _MOVE_WINDOW)):
        if tokens[j] in BREAKS:
            return False
        if j in values:
            return True
    return False


def _apply_modifiers(tokens: list[str], val: list[float], lex: Lexicon) -> None:
    n = len(tokens)
    for i in range(n):
        if not val[i]:
            continue
        for j in range(i - 1, max(-1, i - 1 - _NEGATION_WINDOW), -1):
            if tokens[j] in BREAKS:
                break
            if tokens[j] in lex.negators:
                val[i] *= _NEGATION_FACTOR
                break
        for j in range(max(0, i - _BOOST_WINDOW), min(n, i + _BOOST_WINDOW + 1)):
            factor = lex.boosters.get(tokens[j])
            if factor is not None:
                val[i] *= factor
    # "Profit fell, but the outlook is strong": the part after "but" is what the sentence says.
    for b in range(n - 1, -1, -1):
        if tokens[b] in lex.contrasts and any(val[b + 1 :]):
            for k in range(n):
                val[k] *= 0.5 if k < b else 1.5
            break
    # "despite weak demand" is background: the rest of its clause counts half.
    for d, tok in enumerate(tokens):
        if tok in lex.concessions:
            k = d + 1
            while k < n and tokens[k] not in BREAKS:
                val[k] *= 0.5
                k += 1


def score_text(text: str, lex: Lexicon | None = None) -> RuleScores:
    tokens, values = tokenize_with_numbers(text)
    return score_tokens(tokens, values, lex or load_lexicon())
