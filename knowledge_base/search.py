"""Hybrid search: dense (FAISS) + lexical (BM25), fused by reciprocal rank, then boosts.

`SearchIndex` is one immutable loaded version; `KnowledgeSearch` holds the current one and
swaps in a newer version on `reload()` while queries keep running on the old object.
Boosts: the intent model's topic (soft: a factor, never a filter), and tools named in the
message: "alternative à Gmail" lifts every tool whose `replaces` lists Gmail.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from nlu.text import fold

from .index import SearchIndexError, current_version
from .lexical import LexicalIndex
from .passages import Passage

if TYPE_CHECKING:
    from .ranker import Ranker


@dataclass(frozen=True)
class FusionParams:
    """How the evidence combines; tuned by benchmarks/kb_bench.py.

    Meaning: a document's cosine is a blend of its single best passage and the weighted
    average of its best passage per zone (title as a question, title as a passage, body), so
    a question matching both title and text wins. Words: its best BM25 passage. The two
    document rankings are fused by reciprocal rank; boosts then multiply the fused score.
    """

    candidates: int = 200
    rrf_k: float = 5.0
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    title_weight: float = 1.0
    title_p_weight: float = 1.0
    body_weight: float = 1.5
    max_weight: float = 0.5
    topic_boost: float = 0.3
    checklist_boost: float = 0.5  # when the merchant asks for a step-by-step plan
    replaces_boost: float = 1.0  # "alternative à Gmail": tools replacing Gmail
    replaces_boost_off_topic: float = 0.1  # Gmail named in a question about something else
    name_boost: float = 0.6

    @classmethod
    def for_faq(cls) -> FusionParams:
        """Question-titled FAQs (`kb build`): the title paraphrase matters more than words."""
        return cls(rrf_k=20.0, lexical_weight=0.2, max_weight=0.3)

    @classmethod
    def for_index(cls, manifest: dict[str, object]) -> FusionParams:
        return cls.for_faq() if manifest.get("kind") == "faq" else cls()

    def zone_weight(self, zone: str) -> float:
        return {"title": self.title_weight, "title_p": self.title_p_weight}.get(
            zone, self.body_weight
        )


@dataclass(frozen=True)
class Hit:
    id: str
    kind: str
    title: str
    passage: str
    score: float
    sources: tuple[str, ...]
    topic: str = ""
    section: str = ""
    match: float = 0.0  # cosine of the query with the item's best question (title) passage
    confidence: float = 0.0  # the learned ranker's probability that it answers (0: no ranker)

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["sources"] = list(self.sources)
        return data


@dataclass(frozen=True)
class Candidate:
    """One document and the evidence it was ranked on (features for the learned ranker)."""

    doc_id: str
    kind: str
    shown: int  # the passage shown for it
    score: float  # fused rank score with the boosts
    meaning: float  # blended cosine over its zones
    title: float  # best question (title zone) cosine
    title_p: float
    body: float  # best body passage cosine
    words: float  # best BM25, over the best candidate's
    dense_rank: int
    lexical_rank: int
    boost: float  # tool named in the message
    on_topic: bool
    section_rank: int  # 0 = the first body passage (a guide's summary)


class SearchIndex:
    def __init__(
        self,
        directory: Path,
        passages: list[Passage],
        dense: faiss.Index,
        vectors: np.ndarray,
        lexical: LexicalIndex,
        manifest: dict[str, object],
    ) -> None:
        self.directory = directory
        self.passages = passages
        self.dense = dense
        self.lexical = lexical
        self.manifest = manifest
        self._vectors = vectors
        self.default_params = FusionParams.for_index(manifest)
        self._mentions = _MentionMatcher(passages)
        by_doc: dict[str, list[int]] = {}
        for i, passage in enumerate(passages):
            by_doc.setdefault(passage.doc_id, []).append(i)
        self._doc_passages = {d: np.array(ix, dtype=np.int64) for d, ix in by_doc.items()}
        # 0 for a document's first body passage (a guide's summary), 1 for the next...
        self._section_rank = [0] * len(passages)
        for rows in by_doc.values():
            bodies = [i for i in rows if passages[i].zone == "body"]
            for rank, i in enumerate(bodies):
                self._section_rank[i] = rank

    @property
    def reranked(self) -> bool:
        """Whether the learned ranker applies. It is trained on the knowledge base's kinds
        (guides, FAQ entries, tools, checklists); on a generic FAQ built with `kb build` it
        measured slightly worse than the fusion alone (CNIL: top-1 71.9 -> 71.0 %)."""
        return self.manifest.get("kind") != "faq"

    @property
    def encoder_id(self) -> str:
        return str(self.manifest.get("encoder_id", ""))

    @property
    def version(self) -> str:
        return str(self.manifest.get("version", self.directory.name))

    @classmethod
    def load(cls, path: Path) -> SearchIndex:
        version = current_version(Path(path))
        if version is None:
            raise SearchIndexError(f"aucun index dans {path} : lancez `comptoir kb reindex`.")
        # One thread each for FAISS and BLAS: on two cores their pools spin-wait against the
        # encoder's OpenMP pool (latency spikes of hundreds of ms), and a multi-threaded flat
        # search of one query was ten times slower anyway.
        faiss.omp_set_num_threads(1)
        threadpool_limits(limits=1, user_api="blas")
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
        passages = [
            Passage.from_json(line)
            for line in (version / "passages.jsonl").read_text(encoding="utf-8").splitlines()
            if line
        ]
        dense = faiss.read_index(str(version / "dense.faiss"))
        # Memory-mapped: used only to score the few passages found by words alone.
        vectors = np.load(version / "vectors.npy", mmap_mode="r")
        lexical = LexicalIndex.load(version / "bm25")
        return cls(version, passages, dense, vectors, lexical, manifest)

    def search(
        self,
        text: str,
        vector: np.ndarray,
        topic: str | None = None,
        k: int = 5,
        params: FusionParams | None = None,
        tools: list[str] | None = None,
        ranker: Ranker | None = None,
    ) -> list[Hit]:
        """`topic`: the intent, a soft boost; `tools`: tool names the NLU recognised;
        `ranker`: a learned model that re-orders the best fused candidates."""
        candidates = self.candidates(text, vector, topic, params, tools)
        if ranker is None or not candidates or not self.reranked:
            return [self._hit(c.shown, c.score, c.title) for c in candidates[:k]]
        ranked = ranker.rerank(candidates, text)
        return [self._hit(c.shown, c.score, c.title, p) for c, p in ranked[:k]]

    def candidates(
        self,
        text: str,
        vector: np.ndarray,
        topic: str | None = None,
        params: FusionParams | None = None,
        tools: list[str] | None = None,
    ) -> list[Candidate]:
        """Every candidate document with its evidence, best fused score first."""
        p = params or self.default_params
        n = len(self.passages)
        count = min(p.candidates, n)
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        found: set[int] = set()
        if p.dense_weight:
            _, ids = self.dense.search(query.reshape(1, -1), count)
            found.update(int(i) for i in ids[0] if i >= 0)
        lexical = None
        if p.lexical_weight:
            lexical = self.lexical.scores(text)
            top = np.argpartition(-lexical, count - 1)[:count] if count < n else np.arange(n)
            found.update(int(i) for i in top if lexical[i] > 0)
        if not found:
            return []
        # Score every passage of every candidate document exactly, so a document is judged
        # on all its zones, not only on the passages that happened to be retrieved.
        # Sorted: ties then break the same way in every process (set order follows hashing).
        docs = sorted({self.passages[i].doc_id for i in found})
        rows = np.concatenate([self._doc_passages[d] for d in docs])
        dense = (
            np.asarray(self._vectors[rows]) @ query
            if p.dense_weight
            else np.zeros(len(rows), dtype=np.float32)
        )
        words = lexical[rows] if lexical is not None else np.zeros(len(rows), dtype=np.float32)
        zones: dict[str, dict[str, tuple[float, int]]] = {}
        best_words: dict[str, float] = {}
        for i, cosine, bm25 in zip(rows.tolist(), dense.tolist(), words.tolist(), strict=True):
            passage = self.passages[i]
            per_doc = zones.setdefault(passage.doc_id, {})
            if passage.zone not in per_doc or cosine > per_doc[passage.zone][0]:
                per_doc[passage.zone] = (cosine, i)
            best_words[passage.doc_id] = max(best_words.get(passage.doc_id, 0.0), bm25)
        meaning: dict[str, float] = {}
        for doc_id, per_zone in zones.items():
            weights = {z: p.zone_weight(z) for z in per_zone}
            # Kinds without some zone (a tool has no title passage) are averaged over the
            # zones they have, so every kind competes on the same scale.
            average = sum(weights[z] * c for z, (c, _) in per_zone.items()) / sum(weights.values())
            best = max(c for c, _ in per_zone.values())
            meaning[doc_id] = p.max_weight * best + (1.0 - p.max_weight) * average
        fused = {doc_id: 0.0 for doc_id in zones}
        dense_rank: dict[str, int] = {}
        lexical_rank: dict[str, int] = {}
        if p.dense_weight:
            for rank, doc_id in enumerate(sorted(meaning, key=lambda d: -meaning[d])):
                fused[doc_id] += p.dense_weight / (p.rrf_k + rank + 1)
                dense_rank[doc_id] = rank
        if lexical is not None:
            ordered = sorted(
                (d for d in best_words if best_words[d] > 0), key=lambda d: -best_words[d]
            )
            for rank, doc_id in enumerate(ordered):
                fused[doc_id] += p.lexical_weight / (p.rrf_k + rank + 1)
                lexical_rank[doc_id] = rank
        boosted_docs = self._mentions.boosts(text, tools or [], topic, p)
        scale = (p.rrf_k + 1) / max(p.dense_weight + p.lexical_weight, 1e-9)
        top_words = max(best_words.values(), default=0.0) or 1.0
        found_docs: list[Candidate] = []
        for doc_id, score in fused.items():
            per_zone = zones[doc_id]
            # Show the best body passage (a title alone says little).
            shown = (per_zone["body"] if "body" in per_zone else max(per_zone.values()))[1]
            passage = self.passages[shown]
            boost = boosted_docs.get(doc_id, 0.0)
            on_topic = bool(topic) and passage.topic == topic
            factor = 1.0 + boost + (p.topic_boost if on_topic else 0.0)
            if topic == "start_checklist" and passage.kind == "checklist":
                factor += p.checklist_boost
            found_docs.append(
                Candidate(
                    doc_id=doc_id,
                    kind=passage.kind,
                    shown=shown,
                    score=score * factor * scale,
                    meaning=meaning[doc_id],
                    title=per_zone["title"][0] if "title" in per_zone else 0.0,
                    title_p=per_zone["title_p"][0] if "title_p" in per_zone else 0.0,
                    body=per_zone["body"][0] if "body" in per_zone else 0.0,
                    words=best_words.get(doc_id, 0.0) / top_words,
                    dense_rank=dense_rank.get(doc_id, len(zones)),
                    lexical_rank=lexical_rank.get(doc_id, len(zones)),
                    boost=boost,
                    on_topic=on_topic,
                    section_rank=self._section_rank[shown],
                )
            )
        found_docs.sort(key=lambda c: -c.score)
        return found_docs

    def sections(self, doc_id: str, vector: np.ndarray) -> list[tuple[str, float]]:
        """Each body passage of a document with its cosine to the query: ("", c) is the
        summary, ("heading", c) a section; the composer picks what to lead with."""
        found = self._doc_passages.get(doc_id, np.array([], dtype=np.int64)).tolist()
        rows = [j for j in found if self.passages[j].zone == "body"]
        if not rows:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        cosines = np.asarray(self._vectors[rows]) @ query
        return [(self.passages[j].section, float(c)) for j, c in zip(rows, cosines, strict=True)]

    def _hit(self, i: int, score: float, match: float, confidence: float = 0.0) -> Hit:
        passage = self.passages[i]
        return Hit(
            passage.doc_id,
            passage.kind,
            passage.title,
            passage.text,
            round(float(score), 4),
            passage.urls,
            passage.topic,
            passage.section,
            round(float(match), 4),
            round(float(confidence), 4),
        )


class _MentionMatcher:
    """Finds tool names (and the names of tools they replace) inside a message."""

    def __init__(self, passages: list[Passage]) -> None:
        self._by_name: dict[str, set[str]] = {}
        self._by_replaced: dict[str, set[str]] = {}
        for passage in passages:
            if passage.kind != "tool":
                continue
            self._by_name.setdefault(fold(passage.title), set()).add(passage.doc_id)
            for replaced in filter(None, passage.extra.get("replaces", "").split("|")):
                self._by_replaced.setdefault(fold(replaced), set()).add(passage.doc_id)
        names = sorted(set(self._by_name) | set(self._by_replaced), key=len, reverse=True)
        names = [n for n in names if len(n) >= 3]
        self._pattern = (
            re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b") if names else None
        )

    def boosts(
        self, text: str, tools: list[str], topic: str | None, params: FusionParams
    ) -> dict[str, float]:
        if self._pattern is None:
            return {}
        replaces_boost = (
            params.replaces_boost
            if topic in (None, "find_alternative")
            else params.replaces_boost_off_topic
        )
        names = [m.group(1) for m in self._pattern.finditer(fold(text))]
        names += [fold(t) for t in tools]
        found: dict[str, float] = {}
        for name in names:
            for doc_id in self._by_replaced.get(name, ()):
                found[doc_id] = max(found.get(doc_id, 0.0), replaces_boost)
            for doc_id in self._by_name.get(name, ()):
                found[doc_id] = max(found.get(doc_id, 0.0), params.name_boost)
        return found


class KnowledgeSearch:
    """The index the running bot uses; `reload()` picks up a new version without restart."""

    def __init__(
        self, root: Path, params: FusionParams | None = None, ranker: Ranker | None = None
    ) -> None:
        self.root = Path(root)
        self.params = params
        self.ranker = ranker
        self._ranker_stamp: tuple[str, int] | None = None
        self._index: SearchIndex | None = None
        self._lock = threading.Lock()

    @property
    def index(self) -> SearchIndex | None:
        return self._index

    def reload_ranker(self, path: Path | None) -> bool:
        """Load the ranker file if it is new or changed (a retraining by another process);
        None: no ranker. True if the ranker in use changed."""
        from .ranker import Ranker

        if path is None or not Path(path).is_file():
            changed = self.ranker is not None and path is None
            if path is None:
                self.ranker, self._ranker_stamp = None, None
            return changed
        stamp = (str(path), Path(path).stat().st_mtime_ns)
        if stamp == self._ranker_stamp:
            return False
        loaded = Ranker.load(Path(path))
        self._ranker_stamp = stamp
        if loaded is None:
            return False
        self.ranker = loaded
        return True

    def reload(self) -> bool:
        """Load the version CURRENT names if it is new; True if a swap happened."""
        with self._lock:
            version = current_version(self.root)
            if version is None:
                return False
            if self._index is not None and self._index.directory == version:
                return False
            self._index = SearchIndex.load(version)  # a single reference swap
            return True

    def sections(self, doc_id: str, vector: np.ndarray) -> list[tuple[str, float]]:
        index = self._index
        return index.sections(doc_id, vector) if index is not None else []

    def search(
        self,
        text: str,
        vector: np.ndarray,
        topic: str | None = None,
        k: int = 5,
        tools: list[str] | None = None,
    ) -> list[Hit]:
        index = self._index  # the object stays valid even if a reload swaps meanwhile
        if index is None:
            raise SearchIndexError("index de recherche non chargé : lancez `comptoir kb reindex`.")
        return index.search(
            text, vector, topic=topic, k=k, params=self.params, tools=tools, ranker=self.ranker
        )
