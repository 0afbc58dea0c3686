"""Build the search index into a new versioned folder and swap it in atomically.

Layout of an index root:
    CURRENT                 name of the version being served (replaced atomically)
    versions/<name>/        manifest.json, passages.jsonl, vectors.npy, dense.faiss, bm25/
A build writes a fresh version folder; only when it is complete does CURRENT change, so a
build that fails midway leaves the old index answering. Vectors of passages whose text did
not change are copied from the current version instead of being encoded again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from nlu.encoder import Encoder

from .lexical import LEXICAL_VERSION, LexicalIndex
from .passages import Passage

FORMAT_VERSION = 1
KEEP_VERSIONS = 3
HNSW_FROM = 20_000  # passages


class SearchIndexError(RuntimeError):
    """The index folder is missing or unusable; the message says what to run."""


def current_version(root: Path) -> Path | None:
    """The version folder being served, or `root` itself if it is a bare version folder."""
    root = Path(root)
    if (root / "manifest.json").is_file():
        return root
    pointer = root / "CURRENT"
    if not pointer.is_file():
        return None
    version = root / "versions" / pointer.read_text(encoding="utf-8").strip()
    return version if (version / "manifest.json").is_file() else None


def _previous_vectors(root: Path, encoder_id: str) -> dict[str, np.ndarray]:
    version = current_version(root)
    if version is None:
        return {}
    try:
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("encoder_id") != encoder_id:
            return {}
        keys = (version / "keys.txt").read_text(encoding="utf-8").split()
        vectors = np.load(version / "vectors.npy")
    except (OSError, ValueError):
        return {}
    return dict(zip(keys, vectors, strict=False))


def build_index(
    passages: list[Passage],
    encoder: Encoder,
    root: Path,
    *,
    source: str = "",
    kind: str = "knowledge_base",
    content_hash: str = "",
    progress: Callable[[int], None] | None = None,
    fail_after_encoding: bool = False,
) -> dict[str, object]:
    """Encode (reusing unchanged vectors), index, write a new version, swap it in."""
    started = time.perf_counter()
    root = Path(root)
    (root / "versions").mkdir(parents=True, exist_ok=True)
    if not passages:
        raise SearchIndexError("rien à indexer : aucun passage")

    reusable = _previous_vectors(root, encoder.id)
    vectors = np.zeros((len(passages), encoder.dim), dtype=np.float32)
    todo: dict[str, list[int]] = {"query": [], "passage": []}
    reused = 0
    for i, passage in enumerate(passages):
        vector = reusable.get(passage.key)
        if vector is not None and vector.shape == (encoder.dim,):
            vectors[i] = vector
            reused += 1
        else:
            todo[passage.encode_as].append(i)
    for encode_as, indices in todo.items():
        encode = encoder.encode_queries if encode_as == "query" else encoder.encode_passages
        for start in range(0, len(indices), 64):
            batch = indices[start : start + 64]
            vectors[batch] = encode([passages[i].embed_text for i in batch])
            if progress is not None:
                progress(len(batch))
    if progress is not None and reused:
        progress(reused)
    encoded = time.perf_counter()
    if fail_after_encoding:  # lets tests prove that a failed build changes nothing
        raise SearchIndexError("construction interrompue (test)")

    name = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 10**9:09d}"
    staging = root / "versions" / f".{name}.partial"
    staging.mkdir()
    try:
        dense = _dense_index(vectors)
        faiss.write_index(dense, str(staging / "dense.faiss"))
        np.save(staging / "vectors.npy", vectors)
        (staging / "keys.txt").write_text("\n".join(p.key for p in passages), encoding="utf-8")
        with (staging / "passages.jsonl").open("w", encoding="utf-8") as out:
            for passage in passages:
                out.write(passage.to_json() + "\n")
        LexicalIndex.build([p.lexical_text for p in passages]).save(staging / "bm25")
        documents: dict[str, set[str]] = {}
        for passage in passages:
            documents.setdefault(passage.kind, set()).add(passage.doc_id)
        manifest: dict[str, object] = {
            "format_version": FORMAT_VERSION,
            "version": name,
            "kind": kind,
            "source": source,
            "content_hash": content_hash or _hash_passages(passages),
            "encoder_id": encoder.id,
            "lexical_version": LEXICAL_VERSION,
            "dim": encoder.dim,
            "passages": len(passages),
            "documents": {k: len(ids) for k, ids in sorted(documents.items())},
            "reused_vectors": reused,
            "encoded_vectors": len(passages) - reused,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "timings_s": {
                "encode": round(encoded - started, 2),
                "total": round(time.perf_counter() - started, 2),
            },
        }
        (staging / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        final = root / "versions" / name
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _point_to(root, name)
    _prune(root, keep=name)
    manifest["timings_s"] = {
        **manifest["timings_s"],  # type: ignore[dict-item]
        "total": round(time.perf_counter() - started, 2),
    }
    return manifest


def _dense_index(vectors: np.ndarray) -> faiss.Index:
    """Exact search while it is cheap; a graph index (HNSW) for large collections.

    Measured on 2 cores, one query, one thread: a flat search over 100,000 passages took
    8.7 ms (p50); HNSW answers in well under a millisecond with the same top results for
    practically every query. Under HNSW_FROM passages, flat is exact and fast enough.
    """
    n, dim = vectors.shape
    if n < HNSW_FROM:
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 96
    index.add(vectors)
    return index


def _point_to(root: Path, name: str) -> None:
    tmp = root / f".CURRENT.{os.getpid()}.tmp"
    tmp.write_text(name, encoding="utf-8")
    os.replace(tmp, root / "CURRENT")


def _prune(root: Path, keep: str) -> None:
    versions = sorted(
        (p for p in (root / "versions").iterdir() if not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    for old in versions[:-KEEP_VERSIONS]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def _hash_passages(passages: list[Passage]) -> str:
    digest = hashlib.sha256()
    for passage in passages:
        digest.update(passage.to_json().encode())
    return digest.hexdigest()[:16]
