"""Which sentence of a guide, or step of a plan, holds a narrow question's own words.

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

from knowledge_base.lexical import QUESTION_FORM, tokens
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


# A specific question served a plan ("combien de photos par produit sur ma boutique en
# ligne ?" with "Vendre en ligne en 10 étapes" ranked first) is answered by the step that
# holds its rare words ("… sous deux ou trois angles", "au moins deux photos"), not by the
# plan's first three titles. A step leads when it holds at least this many of the question's
# stems (not the plan title's, nor the words that only shape a question), weighing this much
# (each stem log(1 + n / (1 + steps holding it)) over the plan's n steps: about 1.8 for a
# stem found in one step of 10, 0.7 for one found in all), and more than any other step.
# Session 21: out of fold on train nothing changes (no narrow train question is served a
# plan); on probe20 5 of 10 narrow questions served a plan get a step, each the right one,
# and the expected fact 95 -> 97 of 153.
STEP_STEMS = 2
STEP_WEIGHT = 3.0


def answering_step(question: str, steps: Sequence[frozenset[str]], title: str) -> int | None:
    """The index of the step (each given as its stems, `Checklist.step_stems`) that answers a
    narrow question better than every other, or None. The plan's `title` holds what every
    step is about, which points to no step."""
    asked = {s for s in tokens(question) if not s.isdigit()} - QUESTION_FORM
    asked -= set(tokens(title))
    if not asked or not steps:
        return None
    held = [asked & stems for stems in steps]
    rarity = {s: math.log(1 + len(steps) / (1 + sum(s in h for h in held))) for s in asked}
    scored = sorted(
        ((sum(rarity[s] for s in h), len(h), i) for i, h in enumerate(held)), reverse=True
    )
    weight, count, best = scored[0]
    runner_up = scored[1][0] if len(scored) > 1 else 0.0
    if count >= STEP_STEMS and weight >= STEP_WEIGHT and weight > runner_up:
        return best
    return None
