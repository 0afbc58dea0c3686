"""Accent stripping: the fast paths give what NFKD without combining marks gives."""

from __future__ import annotations

import random
import unicodedata

import pytest

from nlu.text import fold, strip_accents


def by_definition(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain ascii, 42 !",
        "Télé-Phone  Portable à Noël, œuvre, ﬁchier",
        "e\u0301te\u0301",  # already decomposed
        "e\u034fa",  # the grapheme joiner: a mark of class 0, kept
        "Ελληνικά, русский, 日本語, عربي",
        "emoji 🍞🥐 and ½ ²",
    ],
)
def test_strip_accents_matches_its_definition(text: str) -> None:
    assert strip_accents(text) == by_definition(text)


def test_strip_accents_matches_its_definition_on_random_text() -> None:
    rng = random.Random(1)
    ranges = [(0x20, 0x7F), (0xA0, 0x500), (0x300, 0x370), (0x1E00, 0x1F00), (0x20, 0x3000)]
    for _ in range(5000):
        text = "".join(chr(rng.randrange(*rng.choice(ranges))) for _ in range(rng.randint(1, 12)))
        assert strip_accents(text) == by_definition(text), repr(text)


def test_fold() -> None:
    assert fold("Télé-Phone  Portable") == "tele phone portable"
