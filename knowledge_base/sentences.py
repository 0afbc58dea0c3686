"""A guide's text as sentences, each with its Snowball stems: split once per guide
(`Guide.sentences`), since a guide reply looks for the sentence that answers at every turn."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .lexical import tokens

Sentence = tuple[str, frozenset[str]]  # the sentence, its stems

_LIST_ITEM = re.compile(r"^(?:[-*]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-ÖØ-Ý«\"(0-9])")


def unwrap(markdown: str) -> list[str]:
    """The paragraphs and list items of a markdown text, one a line, wrapped lines joined and
    emphasis removed (a line break inside a paragraph or an item ends nothing)."""
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
    return [paragraph for paragraph in paragraphs if paragraph]


def plain_units(markdown: str) -> list[str]:
    """The sentences and list items of a markdown text, wrapped lines joined."""
    return [
        sentence.strip()
        for paragraph in unwrap(markdown)
        for sentence in _SENTENCE_END.split(_LIST_ITEM.sub("", paragraph))
        if sentence.strip()
    ]


def split_sentences(texts: Sequence[str]) -> tuple[tuple[Sentence, ...], ...]:
    """Each text's sentences and list items with their stems, in order."""
    return tuple(tuple((u, frozenset(tokens(u))) for u in plain_units(t)) for t in texts)
