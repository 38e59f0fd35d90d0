"""Load the bundled word lists into one lookup structure (once per process).

Sources, all bundled in engine/sentiment/data (see its README for licences):
- finance_lexicon.txt: this project's financial-news lexicon (direction words, object roles, modifiers);
- henry_2008.json: Henry's (2008) earnings-press-release word list, used for words the finance lexicon
  does not already place;
- vader_lexicon.json: VADER's general-language valences (MIT), the fallback for everything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Literal

from engine.sentiment.tokens import NUM

Kind = Literal["dir", "fin", "zero"]
Role = Literal["bad", "good", "damp"]

# Henry's words carry less weight than the hand-placed finance words: the list is about tone in
# earnings releases ("most", "certain", "leading") rather than news direction.
HENRY_WEIGHT = 0.7
# VADER's valences run from -4 to 4; halving puts its strong words near the finance words' 1.0-1.5.
VADER_SCALE = 0.5


@dataclass(frozen=True)
class Lexicon:
    valence: dict[str, tuple[Kind, float]]  # word -> (kind, signed weight)
    roles: dict[str, tuple[Role, float]]  # word -> (role, damping factor for "damp")
    general: dict[str, float]  # VADER word -> scaled valence
    boosters: dict[str, float]
    negators: frozenset[str]
    concessions: frozenset[str]
    contrasts: frozenset[str]
    wins: frozenset[str] = frozenset()  # "won", "secured": positive words that
    deals: frozenset[str] = frozenset()  # ... become hard news when a deal follows ("won an order")
    phrases: dict[tuple[str, ...], str] = field(default_factory=dict)  # token tuple -> merged token
    max_phrase: int = 1


def _data_text(name: str) -> str:
    return resources.files("engine.sentiment").joinpath("data").joinpath(name).read_text(encoding="utf-8")


def parse_finance_lexicon(text: str) -> Lexicon:
    valence: dict[str, tuple[Kind, float]] = {}
    roles: dict[str, tuple[Role, float]] = {}
    boosters: dict[str, float] = {}
    negators: set[str] = set()
    concessions: set[str] = set()
    contrasts: set[str] = set()
    wins: set[str] = set()
    deals: set[str] = set()
    phrases: dict[tuple[str, ...], str] = {}

    def token_of(entry: str) -> str:
        parts = tuple(entry.split("_")) if not entry.startswith("_") else (entry,)
        parts = tuple(NUM if p.isdigit() else p for p in parts)  # "chapter_11" -> "chapter", NUM
        merged = " ".join(parts)
        if len(parts) > 1:
            phrases.setdefault(parts, merged)
        return merged

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head, sep, body = line.partition(":")
        if not sep:
            raise ValueError(f"finance lexicon line {lineno}: missing ':'")
        words = body.split()
        category, *arg = head.split()
        weight = float(arg[0]) if arg and category != "alias" else 1.0
        if category == "alias":
            for entry in words:
                phrases[tuple(entry.split("_"))] = arg[0]
            continue
        for entry in words:
            tok = token_of(entry)
            if category in ("up", "down", "pos", "neg", "zero"):
                if tok in valence:
                    raise ValueError(f"finance lexicon line {lineno}: {tok!r} placed twice")
                sign = -1.0 if category in ("down", "neg") else 1.0
                kind: Kind = "dir" if category in ("up", "down") else "fin" if category != "zero" else "zero"
                valence[tok] = (kind, sign * weight if kind != "zero" else 0.0)
            elif category in ("bad", "good", "damp"):
                roles[tok] = (category, weight)  # type: ignore[assignment]
            elif category == "boost":
                boosters[tok] = weight
            elif category == "negate":
                negators.add(tok)
            elif category == "concede":
                concessions.add(tok)
            elif category == "contrast":
                contrasts.add(tok)
            elif category == "win":
                wins.add(tok)
            elif category == "deal":
                deals.add(tok)
            else:
                raise ValueError(f"finance lexicon line {lineno}: unknown category {category!r}")
    return Lexicon(
        valence=valence,
        roles=roles,
        general={},
        boosters=boosters,
        negators=frozenset(negators),
        concessions=frozenset(concessions),
        contrasts=frozenset(contrasts),
        wins=frozenset(wins),
        deals=frozenset(deals),
        phrases=phrases,
        max_phrase=max((len(p) for p in phrases), default=1),
    )


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    lex = parse_finance_lexicon(_data_text("finance_lexicon.txt"))
    henry = json.loads(_data_text("henry_2008.json"))
    valence = dict(lex.valence)
    for sign, key in ((1.0, "positive"), (-1.0, "negative")):
        for word in henry[key]:
            valence.setdefault(word, ("fin", sign * HENRY_WEIGHT))
    vader: dict[str, float] = json.loads(_data_text("vader_lexicon.json"))
    general = {w: v * VADER_SCALE for w, v in vader.items() if w.isalpha()}
    return Lexicon(
        valence=valence,
        roles=lex.roles,
        general=general,
        boosters=lex.boosters,
        negators=lex.negators,
        concessions=lex.concessions,
        contrasts=lex.contrasts,
        wins=lex.wins,
        deals=lex.deals,
        phrases=lex.phrases,
        max_phrase=lex.max_phrase,
    )
