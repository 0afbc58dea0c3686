"""The generic FAQ path (`kb build`): how answers are cut and how an FAQ index weighs a
document's answer against its title (chosen on the project's own FAQ, see
benchmarks/faq_selection.py)."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from knowledge_base.lexical import LexicalIndex
from knowledge_base.passages import faq_passages
from knowledge_base.search import FusionParams, SearchIndex


def write_faq(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def test_answers_are_cut_at_paragraphs_into_passages_of_about_n_words(tmp_path: Path) -> None:
    paragraphs = [" ".join(f"mot{p}x{i}" for i in range(30)) for p in range(3)]
    docs = write_faq(
        tmp_path / "faq.jsonl",
        [{"id": "a", "title": "Une question ?", "text": "\n".join(paragraphs)}],
    )
    zones = [p.zone for p in faq_passages(docs, words=40)]
    assert zones.count("title") == 1 and zones.count("title_p") == 1
    bodies = [p for p in faq_passages(docs, words=40) if p.zone == "body"]
    assert [b.text for b in bodies] == paragraphs  # 30 + 30 > 40: one paragraph each
    together = [p for p in faq_passages(docs, words=120) if p.zone == "body"]
    assert [b.text for b in together] == [" ".join(paragraphs)]
    # Every body passage carries the question, for the encoder and for BM25.
    assert all(b.embed_text.startswith("Une question ?\n") for b in bodies)


def faq_index(directory: Path, rows: list[dict[str, str]], vectors: np.ndarray) -> SearchIndex:
    """A `kb build`-kind index over given vectors (one per passage, in passage order)."""
    passages = faq_passages(write_faq(directory / "faq.jsonl", rows))
    assert len(passages) == len(vectors)
    dense = faiss.IndexFlatIP(vectors.shape[1])
    dense.add(vectors)
    lexical = LexicalIndex.build([p.lexical_text for p in passages])
    return SearchIndex(directory, passages, dense, vectors, lexical, {"kind": "faq"})


def at_cosine(seed: int):  # type: ignore[no-untyped-def]
    """A query direction, and vectors at a chosen cosine from it (each along its own
    orthogonal direction, so they differ from each other)."""
    basis = np.linalg.qr(np.random.default_rng(seed).normal(size=(16, 16)))[0].astype(np.float32)
    query = basis[0]

    def at(cosine: float, other: int) -> np.ndarray:
        return cosine * query + np.sqrt(1 - cosine**2) * basis[other]

    return query, at


def test_an_faq_index_weighs_the_answer_over_a_look_alike_title(tmp_path: Path) -> None:
    """A question whose meaning is close to entry "titre"'s title but closer to entry
    "reponse"'s answer (no shared words): the FAQ fusion puts the answer first; the knowledge
    base's own fusion (titles and bodies closer in weight) puts the title first."""
    query, at = at_cosine(0)

    rows = [
        {"id": "titre", "title": "Horaires du magasin", "text": "Nous ouvrons le mardi."},
        {"id": "reponse", "title": "Venir chez nous", "text": "Parking gratuit devant la porte."},
    ]
    # Passages: title (query), title (passage), body — for each entry in turn.
    vectors = np.stack(
        [at(0.95, 1), at(0.90, 2), at(0.60, 3), at(0.70, 4), at(0.70, 5), at(0.80, 6)]
    ).astype(np.float32)
    index = faq_index(tmp_path, rows, vectors)
    assert index.default_params == FusionParams.for_faq()
    text = "stationnement possible ?"  # no word of either entry
    assert [h.id for h in index.search(text, query, k=2)] == ["reponse", "titre"]
    kb_order = [h.id for h in index.search(text, query, k=2, params=FusionParams())]
    assert kb_order == ["titre", "reponse"]


def test_score_fusion_keeps_a_clear_lead_that_rank_fusion_forgets(tmp_path: Path) -> None:
    """Entry "sens" is far ahead on meaning and second on words; "mots" is barely second on
    meaning and first on words. Reciprocal ranks see two seconds and a first and let the
    heavier words side decide; z-normalised scores keep the size of the meaning lead."""
    query, at = at_cosine(1)

    rows = [
        {"id": "sens", "title": "Venir en voiture", "text": "Un parking est devant la porte."},
        {"id": "mots", "title": "Parking", "text": "Parking payant, parking gratuit le soir."},
        {"id": "autre", "title": "Horaires", "text": "Nous ouvrons le mardi."},
    ]
    # Passages: title (query), title (passage), body, for each entry in turn.
    cosines = [0.9, 0.9, 0.9, 0.5, 0.5, 0.5, 0.48, 0.48, 0.48]
    vectors = np.stack([at(c, 1 + i) for i, c in enumerate(cosines)]).astype(np.float32)
    index = faq_index(tmp_path, rows, vectors)
    text = "parking gratuit"
    words = dict(rrf_k=2.0, lexical_weight=1.2)
    rrf = FusionParams(**words, fusion="rrf")
    assert [h.id for h in index.search(text, query, k=2, params=rrf)] == ["mots", "sens"]
    for how in ("zscore", "minmax"):
        scored = FusionParams(**words, fusion=how)
        assert [h.id for h in index.search(text, query, k=2, params=scored)] == ["sens", "mots"]


def test_an_unknown_fusion_is_a_clear_error(tmp_path: Path) -> None:
    rows = [{"id": "a", "title": "Question ?", "text": "Réponse."}]
    vectors = np.eye(3, 8, dtype=np.float32)
    index = faq_index(tmp_path, rows, vectors)
    with pytest.raises(ValueError, match="moyenne"):
        index.search("question", vectors[0], params=FusionParams(fusion="moyenne"))


def test_an_index_the_ranker_does_not_read_has_no_word_columns(tmp_path: Path) -> None:
    """The ranker's word columns (`knowledge_base.vocabulary`) are built only for the
    knowledge base's own index: on a `kb build` FAQ index they stay 0, where the same
    passages in a knowledge-base index give the entry that alone holds a rare word its share."""
    query, at = at_cosine(1)
    rows = [
        {"id": "dechire", "title": "Billet déchiré", "text": "Un billet déchiré s'échange."},
        {"id": "faux", "title": "Faux billet", "text": "Un faux billet se signale."},
    ]
    vectors = np.stack([at(0.9, other) for other in range(1, 7)]).astype(np.float32)
    faq = faq_index(tmp_path, rows, vectors)
    assert not faq.reranked
    found = {c.doc_id: c for c in faq.candidates("billet déchiré", query)}
    assert set(found) == {"dechire", "faux"}
    assert all(c.own_words == 0.0 and c.missed_words == 0.0 for c in found.values())
    own = SearchIndex(tmp_path, faq.passages, faq.dense, vectors, faq.lexical, {"kind": "kb"})
    assert own.reranked
    words = {c.doc_id: c for c in own.candidates("billet déchiré", query)}
    assert words["dechire"].own_words > 0.0 and words["faux"].missed_words > 0.0
