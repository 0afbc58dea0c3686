"""Which sentence of a guide holds a narrow question's own words.

A guide reply shows its summary or one section (about 650 characters of a 4,000-character
guide): a question on one point ("je le redemande au bout de combien de temps ?") is often
answered by one sentence elsewhere, in a section that e5 rates below the summary because the
rest of it is about something else. The sentence is found by the question's rare words
(Snowball stems, weighted by how rare they are within the guide itself, so the guide's
subject, present everywhere, counts for little): cheap, and no encoding.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from knowledge_base.lexical import tokens
from knowledge_base.sentences import Sentence


@dataclass(frozen=True)
class Found:
    part: int  # which of the texts holds the sentence
    unit: int  # the sentence's position among that text's units
    text: str
    score: float  # the question's stems it holds, each weighted by its rarity in the texts
    shared: frozenset[str]  # the question's stems it holds


def scored_sentences(question: str, parts: Sequence[Sequence[Sentence]]) -> list[Found]:
    """Every sentence of `parts` (a guide's summary and sections, `Guide.sentences`) that
    holds some of the question's words, best first: the rarer the words within these texts,
    the better."""
    # The merchant's own figures ("80 €", "tva à 5,5 ou 10 ?") are what they know, not what
    # they ask: a sentence holding the same number is no closer to the answer.
    asked = {s for s in tokens(question) if not s.isdigit()}
    if not asked:
        return []
    every = [stems for part in parts for _, stems in part]
    rarity = {s: math.log(1 + len(every) / (1 + sum(s in u for u in every))) for s in asked}
    found = [
        Found(p, i, text, sum(rarity[s] for s in asked & stems), frozenset(asked & stems))
        for p, part in enumerate(parts)
        for i, (text, stems) in enumerate(part)
        if asked & stems
    ]
    return sorted(found, key=lambda f: (-f.score, f.part, f.unit))


_COMPLETE = re.compile(r"^[A-ZÀ-ÖØ-Ý0-9«].*[.!?»)]$")
# Shorter sentences lean on their neighbours ("Idéal seul, moins pratique en équipe.").
MIN_ALONE_CHARS = 50


def reads_alone(sentence: str) -> bool:
    """A whole sentence, not a list's introduction ("… se rémunèrent :"), the lower-case
    tail of a list item or a short aside: only such a sentence makes sense quoted alone."""
    return len(sentence) >= MIN_ALONE_CHARS and bool(_COMPLETE.match(sentence))
