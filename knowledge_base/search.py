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
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from nlu.text import fold

from .index import SearchIndexError, current_version
from .lexical import LexicalIndex, tokens
from .passages import Passage
from .scoring import Layout, ZoneBest, best_per_zone
from .vocabulary import Distinct, Vocabulary

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
    # "rrf": reciprocal rank fusion; "minmax" / "zscore": each side's document scores
    # normalised over the candidates, then summed with the same weights.
    fusion: str = "rrf"

    @classmethod
    def for_faq(cls) -> FusionParams:
        """Question-titled FAQs (`kb build`), chosen on the project's own FAQ exported as a
        generic one (title, answer; no variants) against its train questions
        (benchmarks/faq_selection.py): the two sides' scores z-normalised and summed (a clear
        lead on one side survives, where ranks forget it), the answer's passages weighed
        over the title's."""
        return cls(
            rrf_k=2.0,
            lexical_weight=0.5,
            max_weight=0.0,
            title_weight=0.5,
            title_p_weight=1.0,
            body_weight=3.0,
            fusion="zscore",
        )

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
    topic: str = ""  # the item's topic: an intent name, weighed by the intent model
    # The question's rare words it holds and none of its best rivals do, and those a rival
    # holds and it lacks (shares weighted by rarity: `knowledge_base.vocabulary`).
    own_words: float = 0.0
    missed_words: float = 0.0


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
        self.default_params = FusionParams.for_index(manifest)
        self._mentions = _MentionMatcher(passages)
        self._layout = Layout(passages)
        # The ranker's word columns: not built for an index the ranker does not read.
        self._vocabulary = (
            Vocabulary((p.doc_id, p.text) for p in passages) if self.reranked else None
        )
        # The rows of every candidate document are scored on each query: a plain ndarray
        # view of the (memory-mapped) vectors skips numpy's memmap wrapper on every slice.
        self._matrix = np.asarray(vectors)
        # A flat index's search is one product over every passage: done with numpy instead,
        # it also gives the candidates' exact cosines, which a graph index (HNSW) does not.
        self._flat = isinstance(dense, faiss.IndexFlat) and dense.ntotal == len(self._matrix)
        by_doc: dict[str, list[int]] = {}
        for i, passage in enumerate(passages):
            by_doc.setdefault(passage.doc_id, []).append(i)
        self._doc_passages = {d: np.array(ix, dtype=np.int64) for d, ix in by_doc.items()}

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
        # Memory-mapped: the processes of one host share its pages.
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
        intents: Mapping[str, float] | None = None,
    ) -> list[Hit]:
        """`topic`: the intent, a soft boost; `tools`: tool names the NLU recognised;
        `ranker`: a learned model that re-orders the best fused candidates; `intents`: the
        intent model's probability per intent, which the ranker reads."""
        # A ranker's memory holds one encoder's vectors: another's are not read against it.
        reranks = ranker is not None and self.reranked and ranker.fits(self.encoder_id)
        # Only the candidates that can be shown are built: the ranker re-orders its depth.
        limit = max(k, ranker.depth) if ranker is not None and reranks else k
        candidates = self.candidates(text, vector, topic, params, tools, limit=limit)
        if ranker is None or not candidates or not reranks:
            return [self._hit(c.shown, c.score, c.title) for c in candidates[:k]]
        ranked = ranker.rerank(candidates, text, intents, vector)
        return [self._hit(c.shown, c.score, c.title, p) for c, p in ranked[:k]]

    def candidates(
        self,
        text: str,
        vector: np.ndarray,
        topic: str | None = None,
        params: FusionParams | None = None,
        tools: list[str] | None = None,
        limit: int | None = None,
    ) -> list[Candidate]:
        """Every candidate document with its evidence, best fused score first (the best
        `limit` only, if given: the others are scored and ranked, never built)."""
        p = params or self.default_params
        layout = self._layout
        n = len(self.passages)
        count = min(p.candidates, n)
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        wanted = np.zeros(layout.documents, dtype=bool)
        cosines = None
        if p.dense_weight:
            nearest, cosines = self._nearest(query, count)
            wanted[layout.doc_of[nearest]] = True
        stems = tokens(text)
        lexical = None
        if p.lexical_weight:
            lexical = self.lexical.scores(stems)
            top = np.argpartition(-lexical, count - 1)[:count] if count < n else np.arange(n)
            wanted[layout.doc_of[top[lexical[top] > 0]]] = True
        # Score every passage of every candidate document exactly, so a document is judged
        # on all its zones, not only on the passages that happened to be retrieved. Documents
        # are numbered in sorted id order: ties then break the same way in every process.
        docs = np.flatnonzero(wanted)
        if not len(docs):
            return []
        rows, local = layout.rows_of(docs)
        words = lexical[rows] if lexical is not None else np.zeros(len(rows), dtype=np.float32)
        best_words = np.zeros(len(docs))
        np.maximum.at(best_words, local, words.astype(np.float64))
        if not p.dense_weight:
            dense = np.zeros(len(rows), np.float32)
        elif cosines is not None:
            dense = cosines[rows]
        else:
            dense = self._matrix[rows] @ query
        zones, meaning = self._meaning(p, rows, local, dense, len(docs))
        fused, dense_rank, lexical_rank = _fuse(p, meaning, best_words, lexical is not None)
        present = zones.present
        boost = np.zeros(len(docs))
        for doc_id, value in self._mentions.boosts(text, tools or [], topic, p).items():
            at = int(np.searchsorted(docs, layout.index_of[doc_id]))
            if at < len(docs) and docs[at] == layout.index_of[doc_id]:
                boost[at] = value
        shown = zones.shown()
        on_topic = layout.topic_of[shown] == layout.topic_code(topic) if topic else None
        factor = 1.0 + boost + (np.where(on_topic, p.topic_boost, 0.0) if topic else 0.0)
        if topic == "start_checklist":
            factor = factor + np.where(layout.checklist[shown], p.checklist_boost, 0.0)
        scale = (p.rrf_k + 1) / max(p.dense_weight + p.lexical_weight, 1e-9)
        score = fused * factor * scale
        top_words = float(best_words.max()) or 1.0
        ranked = np.argsort(-score, kind="stable")[:limit]
        cosine = np.where(present, zones.cosine, 0.0)
        ids = [layout.ids[d] for d in docs[ranked].tolist()]
        vocabulary = self._vocabulary
        if vocabulary is None:
            distinct = [Distinct(0.0, 0.0)] * len(ids)
        else:
            distinct = vocabulary.distinct(stems, ids)
        return [
            Candidate(
                doc_id=d,
                kind=self.passages[s].kind,
                shown=s,
                score=sc,
                meaning=m,
                title=c[0],
                title_p=c[1],
                body=c[2],
                words=w / top_words,
                dense_rank=dr,
                lexical_rank=lr,
                boost=b,
                on_topic=t,
                section_rank=layout.section_rank[s],
                topic=self.passages[s].topic,
                own_words=words_of.own,
                missed_words=words_of.missed,
            )
            for d, s, sc, m, c, w, dr, lr, b, t, words_of in zip(
                ids,
                shown[ranked].tolist(),
                score[ranked].tolist(),
                meaning[ranked].tolist(),
                cosine[ranked].tolist(),
                best_words[ranked].tolist(),
                dense_rank[ranked].tolist(),
                lexical_rank[ranked].tolist(),
                boost[ranked].tolist(),
                on_topic[ranked].tolist() if on_topic is not None else [False] * len(ranked),
                distinct,
                strict=True,
            )
        ]

    def _nearest(self, query: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The rows of the `count` passages nearest `query` and, for a flat index, every
        passage's cosine: one product serves both. A graph index (HNSW) gives the rows only."""
        if self._flat:
            cosines = self._matrix @ query
            return _best(cosines, count), cosines
        _, ids = self.dense.search(query.reshape(1, -1), count)
        return ids[0][ids[0] >= 0], None

    def _meaning(
        self, p: FusionParams, rows: np.ndarray, local: np.ndarray, dense: np.ndarray, docs: int
    ) -> tuple[ZoneBest, np.ndarray]:
        """Per candidate document: its best passage per zone and its blended cosine, from the
        cosines of its passages (`dense`, one per row)."""
        layout = self._layout
        zones = best_per_zone(rows, local, layout.zone_of[rows], dense, docs)
        present = zones.present
        weights = np.array([p.title_weight, p.title_p_weight, p.body_weight])
        # Kinds without some zone (a tool has no title passage) are averaged over the zones
        # they have, so every kind competes on the same scale. Summed zone by zone in the
        # zones' order (absent ones add an exact 0.0), as floats, for stable figures.
        terms = np.where(present, weights * zones.cosine, 0.0)
        shares = np.where(present, weights, 0.0)
        average = (terms[:, 0] + terms[:, 1] + terms[:, 2]) / (
            shares[:, 0] + shares[:, 1] + shares[:, 2]
        )
        best = np.where(present, zones.cosine, -np.inf).max(axis=1)
        return zones, p.max_weight * best + (1.0 - p.max_weight) * average

    def sections(self, doc_id: str, vector: np.ndarray) -> list[tuple[str, float]]:
        """Each body passage of a document with its cosine to the query: ("", c) is the
        summary, ("heading", c) a section; the composer picks what to lead with."""
        found = self._doc_passages.get(doc_id, np.array([], dtype=np.int64)).tolist()
        rows = [j for j in found if self.passages[j].zone == "body"]
        if not rows:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        cosines = self._matrix[rows] @ query
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


def _best(scores: np.ndarray, count: int) -> np.ndarray:
    """The rows of the `count` best scores, and of any score tied with the last of them (so
    the set does not depend on how a partition breaks ties)."""
    if count >= len(scores):
        return np.arange(len(scores))
    kth = np.partition(scores, len(scores) - count)[len(scores) - count]
    return np.flatnonzero(scores >= kth)


def _fuse(
    p: FusionParams, meaning: np.ndarray, best_words: np.ndarray, worded: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fused score of each candidate document, and its rank on each side."""
    n = len(meaning)
    fused = np.zeros(n)
    dense_rank = np.full(n, n)
    lexical_rank = np.full(n, n)
    if p.dense_weight:
        order = np.argsort(-meaning, kind="stable")
        dense_rank[order] = np.arange(n)
    if worded:
        has = np.flatnonzero(best_words > 0)
        order = has[np.argsort(-best_words[has], kind="stable")]
        lexical_rank[order] = np.arange(len(order))
    if p.fusion == "rrf":
        if p.dense_weight:
            fused += p.dense_weight / (p.rrf_k + dense_rank + 1)
        if worded:
            fused += np.where(best_words > 0, p.lexical_weight / (p.rrf_k + lexical_rank + 1), 0.0)
        return fused, dense_rank, lexical_rank
    # Score fusion: keeps how far ahead a side's first document is, which ranks forget.
    if p.dense_weight:
        fused += p.dense_weight * _normalised(meaning, p.fusion)
    if worded:
        fused += p.lexical_weight * _normalised(best_words, p.fusion)
    # Shifted to stay positive: the boosts multiply it.
    fused = fused - fused.min() + 1e-6 if n else fused
    return fused, dense_rank, lexical_rank


def _normalised(scores: np.ndarray, how: str) -> np.ndarray:
    """Min-max to [0, 1], or z-score, over the candidate documents (flat: all zero)."""
    if how == "minmax":
        span = float(scores.max() - scores.min()) if len(scores) else 0.0
        return (scores - scores.min()) / span if span > 0 else np.zeros_like(scores)
    if how == "zscore":
        spread = float(scores.std()) if len(scores) else 0.0
        return (scores - scores.mean()) / spread if spread > 0 else np.zeros_like(scores)
    raise ValueError(f"fusion inconnue : {how!r} (rrf, minmax ou zscore)")


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
        intents: Mapping[str, float] | None = None,
    ) -> list[Hit]:
        index = self._index  # the object stays valid even if a reload swaps meanwhile
        if index is None:
            raise SearchIndexError("index de recherche non chargé : lancez `comptoir kb reindex`.")
        return index.search(
            text,
            vector,
            topic=topic,
            k=k,
            params=self.params,
            tools=tools,
            ranker=self.ranker,
            intents=intents,
        )
