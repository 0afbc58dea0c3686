"""Per-document constants of a loaded index and the per-zone maxima of one query, as arrays.

A query scores every passage of a few hundred candidate documents; doing that passage by
passage in Python was most of a search's time. The layout (which document and zone each
passage belongs to, documents numbered in sorted id order) is computed once when a version
is loaded, so a query's scoring is a handful of numpy operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index import SearchIndexError
from .passages import Passage

ZONES = ("title", "title_p", "body")  # the order a document's zones are summed in
BODY = ZONES.index("body")


class Layout:
    """Where each passage sits: its document (by number), zone, topic and position."""

    def __init__(self, passages: list[Passage]) -> None:
        self.ids = sorted({p.doc_id for p in passages})
        self.index_of = {doc_id: j for j, doc_id in enumerate(self.ids)}
        self.documents = len(self.ids)
        unknown = {p.zone for p in passages} - set(ZONES)
        if unknown:
            raise SearchIndexError(
                f"zones inconnues dans l'index : {sorted(unknown)} ; lancez `comptoir kb reindex`."
            )
        self.doc_of = np.array([self.index_of[p.doc_id] for p in passages], dtype=np.int64)
        self.zone_of = np.array([ZONES.index(p.zone) for p in passages], dtype=np.int64)
        topics = sorted({p.topic for p in passages})
        self._topic_codes = {t: i for i, t in enumerate(topics)}
        self.topic_of = np.array([self._topic_codes[p.topic] for p in passages], dtype=np.int64)
        self.checklist = np.array([p.kind == "checklist" for p in passages], dtype=bool)
        # A document's passages, in index order, document after document.
        self._order = np.argsort(self.doc_of, kind="stable")
        self._count = np.bincount(self.doc_of, minlength=self.documents)
        self._start = np.concatenate([[0], np.cumsum(self._count)[:-1]])
        # 0 for a document's first body passage (a guide's summary), 1 for the next...
        self.section_rank = [0] * len(passages)
        seen: dict[int, int] = {}
        for i in self._order.tolist():
            if passages[i].zone == "body":
                d = int(self.doc_of[i])
                self.section_rank[i] = seen.get(d, 0)
                seen[d] = self.section_rank[i] + 1

    def topic_code(self, topic: str) -> int:
        """-1 for a topic no passage has (then nothing is on topic)."""
        return self._topic_codes.get(topic, -1)

    def rows_of(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every passage of `docs` (sorted document numbers), document after document, and
        for each the position of its document in `docs`."""
        counts = self._count[docs]
        local = np.repeat(np.arange(len(docs)), counts)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        offsets = np.arange(int(counts.sum())) - first[local] + self._start[docs][local]
        return self._order[offsets], local


@dataclass(frozen=True)
class ZoneBest:
    """Per candidate document and zone: whether it has that zone, its best cosine (float64
    of the float32 cosine) and the passage that scored it (the first one on a tie)."""

    present: np.ndarray  # (documents, zones) bool
    cosine: np.ndarray  # (documents, zones) float64, -inf where absent
    passage: np.ndarray  # (documents, zones) int64, -1 where absent

    def shown(self) -> np.ndarray:
        """The passage shown for each document: its best body passage (a title alone says
        little), else its best passage over all zones (the later one on a tie)."""
        shown = self.passage[:, BODY].copy()
        for d in np.flatnonzero(~self.present[:, BODY]).tolist():
            zones = np.flatnonzero(self.present[d])
            shown[d] = max((float(self.cosine[d, z]), int(self.passage[d, z])) for z in zones)[1]
        return shown


def best_per_zone(
    rows: np.ndarray, local: np.ndarray, zones: np.ndarray, cosines: np.ndarray, documents: int
) -> ZoneBest:
    """`rows`: passages (document after document, index order within one), `local`: their
    document's position, `zones`: their zone, `cosines`: their cosine to the query."""
    group = local * len(ZONES) + zones
    size = documents * len(ZONES)
    cosine = cosines.astype(np.float64)
    best = np.full(size, -np.inf)
    np.maximum.at(best, group, cosine)
    present = np.bincount(group, minlength=size) > 0
    at_best = cosine == best[group]
    # np.unique's first index is the first row in order: the first passage wins a tie.
    groups, first = np.unique(group[at_best], return_index=True)
    passage = np.full(size, -1, dtype=np.int64)
    passage[groups] = rows[at_best][first]
    shape = (documents, len(ZONES))
    return ZoneBest(present.reshape(shape), best.reshape(shape), passage.reshape(shape))
