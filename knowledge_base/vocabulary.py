"""Which of the question's rare words a candidate holds that its rivals do not.

Neighbouring FAQ entries and guides read alike to e5 ("billet déchiré" and the fake-note
entry, "yaourts DLC d'hier à moitié prix" and selling below cost): their cosines to the
question overlap. The word that tells them apart ("déchiré", "DLC") is often in one of them
only. Per candidate, among the best fused candidates, the ranker reads the share of the
question's rare words (Snowball stems, weighted by how few items of the index hold them)
that this item holds and none of the others do, and the share that another holds and this
one lacks. Cheap set operations on stems computed once per loaded index; no encoding.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .lexical import QUESTION_FORM, tokens

# The words are compared within the best fused candidates only: the rivals a question
# actually hesitates between. Session 22, out of fold on train within the re-ranked depth
# (two seeds): 3 rivals 0.9236, 5 rivals 0.9260, 10 rivals 0.9231 top-1.
RIVALS = 5


@dataclass(frozen=True)
class Distinct:
    """Shares (0..1) of the question's rare words, weighted by rarity."""

    own: float  # held by this item and by none of the other best candidates
    missed: float  # held by one of the other best candidates and not by this item


class Vocabulary:
    """Each item's stems (over all its passages) and each stem's rarity over the items."""

    def __init__(self, texts: Iterable[tuple[str, str]]) -> None:
        """`texts`: (item id, text) pairs, several per item (its passages)."""
        stems: dict[str, set[str]] = {}
        for doc_id, text in texts:
            stems.setdefault(doc_id, set()).update(tokens(text))
        self._stems = {doc_id: frozenset(s) for doc_id, s in stems.items()}
        held: dict[str, int] = {}
        for found in self._stems.values():
            for stem in found:
                held[stem] = held.get(stem, 0) + 1
        self._items = len(self._stems)
        self._held = held

    def rarity(self, stem: str) -> float:
        return math.log(1 + self._items / (1 + self._held.get(stem, 0)))

    def asked(self, stems: Iterable[str]) -> dict[str, float]:
        """The question's stems (`lexical.tokens`) that say what is asked (no figure, no
        question form), each with its rarity."""
        return {s: self.rarity(s) for s in stems if not s.isdigit() and s not in QUESTION_FORM}

    def distinct(self, stems: Iterable[str], doc_ids: Sequence[str]) -> list[Distinct]:
        """Per item of `doc_ids` (best fused first), its own and missed shares of the
        question's stems against the first RIVALS items."""
        asked = self.asked(stems)
        total = math.fsum(asked.values())  # exact: the same figure whatever the set order
        empty: frozenset[str] = frozenset()
        if not total:
            return [Distinct(0.0, 0.0) for _ in doc_ids]
        words = set(asked)
        held = [self._stems.get(d, empty) & words for d in doc_ids]
        found = []
        for i, mine in enumerate(held):
            others = set().union(*(h for j, h in enumerate(held[:RIVALS]) if j != i))
            own = math.fsum(asked[s] for s in mine - others)
            missed = math.fsum(asked[s] for s in others - mine)
            found.append(Distinct(own / total, missed / total))
        return found
