"""BM25 over folded, stemmed French tokens (bm25s + Snowball).

"Paiements", "payer" and "PAIEMENT" should meet; so should "facturation" and "factures".
Accents and case are folded first (merchants rarely type them), then Snowball French stems.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from nlu.text import EMPTY_WORDS, fold

logging.getLogger("bm25s").setLevel(logging.WARNING)

STOPWORDS = frozenset(
    """
    a au aux avec ce ces cette c d de des du elle en et est il ils j je l la le les leur lui
    m ma mais me mes moi mon n ne nos notre nous on ou par pas pour qu que qui s sa se ses
    son sur t ta te tes toi ton tu un une vos votre vous y etre avoir faire comment quoi
    quel quelle quels quelles est-ce estce bonjour svp stp merci the of to for and is in my
    """.split()
)


# Bump when tokens() changes: indexes built with another version are rebuilt.
LEXICAL_VERSION = 2

# Shorthand merchants type, spelled out before stemming (folded forms).
SHORTHAND = {
    "rdv": "rendez vous",
    "cb": "carte bancaire",
    "compta": "comptabilite",
    "insta": "instagram",
    "fb": "facebook",
    "resa": "reservation",
    "resas": "reservations",
    "appli": "application",
    "applis": "applications",
    "mdp": "mot de passe",
    "pb": "probleme",
    "pbs": "problemes",
    "dev": "developpement",
    "pro": "professionnel",
    "tel": "telephone",
    "ordi": "ordinateur",
    "pub": "publicite",
    "promo": "promotion",
    "promos": "promotions",
    "asso": "association",
    "autoentrepreneur": "micro entrepreneur",
}


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("french")


def tokens(text: str) -> list[str]:
    folded = " ".join(SHORTHAND.get(w, w) for w in fold(text).split())
    words = [w for w in folded.split() if (w not in STOPWORDS and len(w) > 1) or w.isdigit()]
    return _stemmer().stemWords(words)


# The stems of the words that shape a question without saying what is asked ("c'est légal ?").
QUESTION_FORM = frozenset(tokens(" ".join(EMPTY_WORDS)))


class LexicalIndex:
    def __init__(self, retriever: bm25s.BM25) -> None:
        self._retriever = retriever

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        retriever = bm25s.BM25(k1=1.2, b=0.75)
        retriever.index([tokens(t) or ["_"] for t in texts], show_progress=False)
        return cls(retriever)

    def scores(self, words: Sequence[str]) -> np.ndarray:
        """BM25 of every passage for the query's stems (`tokens`: computed once a query,
        the vocabulary's shares read them too)."""
        if not words:  # only stop words or symbols ("ok", "??"): no word evidence at all
            return np.zeros(self._retriever.scores["num_docs"], dtype=np.float32)
        return np.asarray(self._retriever.get_scores(list(words)), dtype=np.float32)

    def save(self, directory: Path) -> None:
        self._retriever.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        return cls(bm25s.BM25.load(str(directory), show_progress=False, verbosity=0))
