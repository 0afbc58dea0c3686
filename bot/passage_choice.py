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

_LIST_ITEM = re.compile(r"^(?:[-*]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-ÖØ-Ý«\"(0-9])")


def plain_units(markdown: str) -> list[str]:
    """The sentences and list items of a markdown text, wrapped lines joined."""
    text = markdown.replace("**", "").replace("__", "").replace("`", "")
    paragraphs: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            paragraphs.append("")
        elif _LIST_ITEM.match(line) or not paragraphs or not paragraphs[-1]:
            paragraphs.append(line)
        else:
            paragraphs[-1] += " " + line
    return [
        sentence.strip()
        for paragraph in paragraphs
        for sentence in _SENTENCE_END.split(_LIST_ITEM.sub("", paragraph))
        if sentence.strip()
    ]


@dataclass(frozen=True)
class Found:
    part: int  # which of the texts holds the sentence
    unit: int  # the sentence's position among that text's units
    text: str
    score: float  # the question's stems it holds, each weighted by its rarity in the texts
    shared: frozenset[str]  # the question's stems it holds


def scored_sentences(question: str, texts: Sequence[str]) -> list[Found]:
    """Every sentence of `texts` (a guide's summary and sections) that holds some of the
    question's words, best first: the rarer the words within these texts, the better."""
    # The merchant's own figures ("80 €", "tva à 5,5 ou 10 ?") are what they know, not what
    # they ask: a sentence holding the same number is no closer to the answer.
    asked = {s for s in tokens(question) if not s.isdigit()}
    if not asked:
        return []
    units = [plain_units(t) for t in texts]
    stems = [[set(tokens(u)) for u in part] for part in units]
    every = [u for part in stems for u in part]
    rarity = {s: math.log(1 + len(every) / (1 + sum(s in u for u in every))) for s in asked}
    found = [
        Found(p, i, units[p][i], sum(rarity[s] for s in asked & unit), frozenset(asked & unit))
        for p, part in enumerate(stems)
        for i, unit in enumerate(part)
        if asked & unit
    ]
    return sorted(found, key=lambda f: (-f.score, f.part, f.unit))


_COMPLETE = re.compile(r"^[A-ZÀ-ÖØ-Ý0-9«].*[.!?»)]$")
# Shorter sentences lean on their neighbours ("Idéal seul, moins pratique en équipe.").
MIN_ALONE_CHARS = 50


def reads_alone(sentence: str) -> bool:
    """A whole sentence, not a list's introduction ("… se rémunèrent :"), the lower-case
    tail of a list item or a short aside: only such a sentence makes sense quoted alone."""
    return len(sentence) >= MIN_ALONE_CHARS and bool(_COMPLETE.match(sentence))
