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
# Folded words that shape a question ("c'est légal ?", "je dois faire quoi ?") without saying
# what is asked: grammar, question words, modal verbs, fillers.
EMPTY_WORDS = frozenset(
    "je j tu il elle on nous vous ils elles ca c ce cela ceci est sont suis etre a ai as avez "
    "quoi comment pourquoi quand combien ou que qu qui quel quelle quels quelles le la les l "
    "un une des de du d en pour par sur avec sans et mais mon ma mes me m moi ton ta tes te t "
    "se s sa son ses leur leurs y ne n pas plus encore toujours vraiment possible ok grave "
    "normal legal legale droit peux peut puis dois doit faut faire fais fait aussi bien svp "
    "merci alors donc oui non deja tout tous ici la-bas".split()
)


# Latin letters and their accents after decomposition: below U+0370, the only characters
# with a combining class are U+0300-U+036F except U+034F (the grapheme joiner, class 0).
_LATIN = re.compile(r"[\x00-\u036f]*")
_LATIN_MARKS = re.compile(r"[\u0300-\u034e\u0350-\u036f]+")


def strip_accents(text: str) -> str:
    """NFKD without combining marks. French text takes a regular-expression path (it is
    folded several times a turn); other scripts the general one, with the same result."""
    if text.isascii():  # unchanged by NFKD and without marks
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    if _LATIN.fullmatch(decomposed):
        return _LATIN_MARKS.sub("", decomposed)
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
