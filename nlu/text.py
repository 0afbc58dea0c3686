"""Text normalisation shared by the NLU and the knowledge base.

Merchants type on phones: no accents, odd case, SMS spellings. Matching is done on a folded
form (lower case, no accents, punctuation as spaces) while offsets still point into the
original message.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

TOKEN = re.compile(r"\w+", re.UNICODE)


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    """`Télé-Phone  Portable` -> `tele phone portable`."""
    return " ".join(t.lower() for t in TOKEN.findall(strip_accents(text)))


@dataclass(frozen=True)
class Token:
    text: str  # folded
    start: int  # offsets in the original string
    end: int


def tokenize(text: str) -> list[Token]:
    """Folded tokens with their offsets in `text`.

    Accent stripping keeps one character per character for French letters, so offsets of the
    folded form are those of the original; other characters fall back to per-token folding.
    """
    tokens = []
    for match in TOKEN.finditer(text):
        folded = strip_accents(match.group(0)).lower()
        if folded:
            tokens.append(Token(folded, match.start(), match.end()))
    return tokens
