"""The array scoring of a search's candidates equals the passage-by-passage scoring it
replaced, figure for figure, on the shipped index and on a small index with edge cases."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import faiss
import numpy as np
import pytest
import yaml

from knowledge_base.lexical import LexicalIndex, tokens
from knowledge_base.passages import Passage
from knowledge_base.search import Candidate, FusionParams, SearchIndex
from nlu.text import EMPTY_WORDS

EVAL = Path(__file__).resolve().parents[2] / "knowledge_base" / "eval"


def normalised(values: list[float], how: str) -> np.ndarray:
    """Min-max or z-score of one side's document scores (all zero when they are flat)."""
    x = np.array(values)
    if how == "minmax":
        span = float(x.max() - x.min())
        return (x - x.min()) / span if span > 0 else np.zeros_like(x)
    spread = float(x.std())
    return (x - x.mean()) / spread if spread > 0 else np.zeros_like(x)


def reference_candidates(
    index: SearchIndex,
    text: str,
    vector: np.ndarray,
    topic: str | None = None,
    params: FusionParams | None = None,
    tools: list[str] | None = None,
) -> list[Candidate]:
    """The scoring as it was before it used arrays (one Python step per passage), kept as
    the reference the array version must reproduce exactly."""
    p = params or index.default_params
    passages = index.passages
    n = len(passages)
    count = min(p.candidates, n)
    query = np.asarray(vector, dtype=np.float32).reshape(-1)
    by_doc: dict[str, list[int]] = {}
    for i, passage in enumerate(passages):
        by_doc.setdefault(passage.doc_id, []).append(i)
    section_rank = [0] * n
    for rows_of_doc in by_doc.values():
        bodies = [i for i in rows_of_doc if passages[i].zone == "body"]
        for rank, i in enumerate(bodies):
            section_rank[i] = rank
    found: set[int] = set()
    # A flat index's nearest passages: every passage's cosine from one product, the `count`
    # best and any tied with the last of them.
    cosines = np.load(index.directory / "vectors.npy") @ query
    if p.dense_weight:
        kth = sorted(cosines.tolist(), reverse=True)[count - 1]
        found.update(i for i, cosine in enumerate(cosines.tolist()) if cosine >= kth)
    lexical = None
    if p.lexical_weight:
        lexical = index.lexical.scores(tokens(text))
        top = np.argpartition(-lexical, count - 1)[:count] if count < n else np.arange(n)
        found.update(int(i) for i in top if lexical[i] > 0)
    if not found:
        return []
    docs = sorted({passages[i].doc_id for i in found})
    rows = np.concatenate([np.array(by_doc[d], dtype=np.int64) for d in docs])
    dense = cosines[rows] if p.dense_weight else np.zeros(len(rows), dtype=np.float32)
    words = lexical[rows] if lexical is not None else np.zeros(len(rows), dtype=np.float32)
    zones: dict[str, dict[str, tuple[float, int]]] = {}
    best_words: dict[str, float] = {}
    for i, cosine, bm25 in zip(rows.tolist(), dense.tolist(), words.tolist(), strict=True):
        passage = passages[i]
        per_doc = zones.setdefault(passage.doc_id, {})
        if passage.zone not in per_doc or cosine > per_doc[passage.zone][0]:
            per_doc[passage.zone] = (cosine, i)
        best_words[passage.doc_id] = max(best_words.get(passage.doc_id, 0.0), bm25)
    meaning: dict[str, float] = {}
    for doc_id, per_zone in zones.items():
        weights = {z: p.zone_weight(z) for z in per_zone}
        average = sum(weights[z] * c for z, (c, _) in per_zone.items()) / sum(weights.values())
        best = max(c for c, _ in per_zone.values())
        meaning[doc_id] = p.max_weight * best + (1.0 - p.max_weight) * average
    fused = {doc_id: 0.0 for doc_id in zones}
    dense_rank: dict[str, int] = {}
    lexical_rank: dict[str, int] = {}
    by_rank = p.fusion == "rrf"
    if p.dense_weight:
        for rank, doc_id in enumerate(sorted(meaning, key=lambda d: -meaning[d])):
            fused[doc_id] += p.dense_weight / (p.rrf_k + rank + 1) if by_rank else 0.0
            dense_rank[doc_id] = rank
    if lexical is not None:
        ordered = sorted((d for d in best_words if best_words[d] > 0), key=lambda d: -best_words[d])
        for rank, doc_id in enumerate(ordered):
            fused[doc_id] += p.lexical_weight / (p.rrf_k + rank + 1) if by_rank else 0.0
            lexical_rank[doc_id] = rank
    if not by_rank:
        ids = list(fused)
        total = np.zeros(len(ids))
        if p.dense_weight:
            total += p.dense_weight * normalised([meaning[d] for d in ids], p.fusion)
        if lexical is not None:
            total += p.lexical_weight * normalised([best_words[d] for d in ids], p.fusion)
        fused = dict(zip(ids, (total - total.min() + 1e-6).tolist(), strict=True))
    boosted_docs = index._mentions.boosts(text, tools or [], topic, p)
    scale = (p.rrf_k + 1) / max(p.dense_weight + p.lexical_weight, 1e-9)
    top_words = max(best_words.values(), default=0.0) or 1.0
    found_docs: list[Candidate] = []
    for doc_id, score in fused.items():
        per_zone = zones[doc_id]
        shown = (per_zone["body"] if "body" in per_zone else max(per_zone.values()))[1]
        passage = passages[shown]
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
                section_rank=section_rank[shown],
                topic=passage.topic,
            )
        )
    found_docs.sort(key=lambda c: -c.score)
    return reference_words(index, text, found_docs)


@lru_cache(maxsize=4)
def stems_of(index: SearchIndex) -> dict[str, set[str]]:
    stems: dict[str, set[str]] = {}
    for passage in index.passages:
        stems.setdefault(passage.doc_id, set()).update(tokens(passage.text))
    return stems


def reference_words(index: SearchIndex, text: str, found: list[Candidate]) -> list[Candidate]:
    """Each candidate's own and missed word shares against the five best, item by item."""
    stems = stems_of(index)
    held = Counter(stem for item in stems.values() for stem in item)
    form = set(tokens(" ".join(EMPTY_WORDS)))
    asked = {
        s: math.log(1 + len(stems) / (1 + held[s]))
        for s in tokens(text)
        if not s.isdigit() and s not in form
    }
    total = math.fsum(asked.values())
    if not total:
        return found
    rivals = [c.doc_id for c in found[:5]]
    shares = []
    for c in found:
        mine = {s for s in asked if s in stems[c.doc_id]}
        others = {s for s in asked for r in rivals if r != c.doc_id and s in stems[r]}
        own = math.fsum(asked[s] for s in mine - others) / total
        missed = math.fsum(asked[s] for s in others - mine) / total
        shares.append(replace(c, own_words=own, missed_words=missed))
    return shares


def assert_same(index: SearchIndex, text: str, vector: np.ndarray, **options: object) -> int:
    expected = reference_candidates(index, text, vector, **options)  # type: ignore[arg-type]
    got = index.candidates(text, vector, **options)  # type: ignore[arg-type]
    assert got == expected, (text, options)  # every field, floats bit for bit
    assert index.candidates(text, vector, limit=7, **options) == expected[:7]  # type: ignore[arg-type]
    return len(got)


@pytest.fixture(scope="module")
def shipped(ready) -> SearchIndex:  # type: ignore[no-untyped-def]
    index = ready[3].index
    assert index is not None
    return index


def test_array_scoring_equals_the_reference_on_the_shipped_index(shipped: SearchIndex, encoder):  # type: ignore[no-untyped-def]
    texts = [str(q["text"]) for q in yaml.safe_load((EVAL / "test.yml").read_text("utf-8"))]
    texts += ["?", "ok", "alternative a gmail", "checklist rgpd", "comme slack mais europeen"]
    vectors = encoder.encode_queries(texts)
    topics = [None, "find_alternative", "start_checklist", "ask_payment", "no_such_topic"]
    compared = 0
    for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
        compared += assert_same(shipped, text, vector, topic=topics[i % len(topics)])
    # Tools named by the NLU, and the other weightings (a FAQ index's, dense or words alone).
    vector = vectors[texts.index("alternative a gmail")]
    assert_same(shipped, "alternative a gmail", vector, tools=["Gmail", "Outlook"])
    for params in (
        FusionParams.for_faq(),
        FusionParams(fusion="minmax"),
        FusionParams(lexical_weight=0.0),
        FusionParams(dense_weight=0.0),
    ):
        for text, vector in zip(texts[:40], vectors[:40], strict=True):
            assert_same(shipped, text, vector, topic="ask_payment", params=params)
    assert compared > 100 * len(texts)  # hundreds of documents per question were compared


def small_index(directory: Path, dense: faiss.Index | None = None) -> SearchIndex:
    """Documents without a body (shown: their best zone, the later passage on a tie), equal
    cosines inside a zone (the first passage wins) and shuffled passage order. `dense`: an
    empty FAISS index to fill (flat by default)."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=(4, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    spec = [  # doc, zone, vector, kind, topic
        ("b", "title", 0, "faq", "ask_payment"),
        ("a", "body", 1, "guide", "ask_payment"),
        ("b", "title_p", 0, "faq", "ask_payment"),  # ties with b's title: no body
        ("a", "title", 2, "guide", "ask_payment"),
        ("a", "body", 1, "guide", "ask_payment"),  # ties with a's first body passage
        ("c", "title", 3, "checklist", "start_checklist"),
        ("a", "title_p", 2, "guide", "ask_payment"),
        ("d", "body", 2, "tool", "find_alternative"),
        ("c", "title", 1, "checklist", "start_checklist"),
    ]
    passages = [
        Passage(doc, kind, f"Titre {doc}", f"texte {doc} paiement {n}", "", f"paiement {doc} {n}")
        for n, (doc, _, _, kind, _) in enumerate(spec)
    ]
    passages = [
        Passage(**{**p.__dict__, "zone": zone, "topic": topic})
        for p, (_, zone, _, _, topic) in zip(passages, spec, strict=True)
    ]
    vectors = np.stack([base[v] for _, _, v, _, _ in spec])
    np.save(directory / "vectors.npy", vectors)
    dense = dense if dense is not None else faiss.IndexFlatIP(vectors.shape[1])
    dense.add(vectors)
    lexical = LexicalIndex.build([p.lexical_text for p in passages])
    return SearchIndex(directory, passages, dense, vectors, lexical, {})


def test_array_scoring_equals_the_reference_on_edge_cases(tmp_path: Path) -> None:
    index = small_index(tmp_path)
    rng = np.random.default_rng(5)
    queries = [index._matrix[0], index._matrix[1], index._matrix[5]]
    queries += [q / np.linalg.norm(q) for q in rng.normal(size=(5, 16)).astype(np.float32)]
    for text in ("paiement", "paiement b", "rien"):
        for vector in queries:
            for topic in (None, "ask_payment", "start_checklist"):
                assert assert_same(index, text, vector, topic=topic) == 4
    shown = {c.doc_id: c.shown for c in index.candidates("paiement", queries[0])}
    assert shown["b"] == 2 and shown["a"] == 1  # b: later of two equal titles; a: first body


def test_passages_tied_at_the_cut_are_all_candidates(tmp_path: Path) -> None:
    # Three passages (two of "a", one of "c") share the best cosine; two are asked for: all
    # three are kept, so the candidates do not depend on how ties are broken.
    index = small_index(tmp_path)
    params = FusionParams(candidates=2, lexical_weight=0.0)
    query = index._matrix[1]
    assert {c.doc_id for c in index.candidates("rien", query, params=params)} == {"a", "c"}
    assert_same(index, "rien", query, params=params)


def test_a_graph_index_ranks_as_the_flat_one(tmp_path: Path) -> None:
    """A large collection's HNSW index gives FAISS's nearest passages and the candidates'
    cosines row by row: the same candidates as the flat index's single product."""
    flat = small_index(tmp_path)
    graph = small_index(tmp_path, faiss.IndexHNSWFlat(16, 8, faiss.METRIC_INNER_PRODUCT))
    rng = np.random.default_rng(7)
    for vector in [q / np.linalg.norm(q) for q in rng.normal(size=(6, 16)).astype(np.float32)]:
        for text in ("paiement", "rien"):
            want = flat.candidates(text, vector)
            got = graph.candidates(text, vector)
            assert [c.doc_id for c in got] == [c.doc_id for c in want]
            assert [c.meaning for c in got] == pytest.approx([c.meaning for c in want], abs=1e-6)
