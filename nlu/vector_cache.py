"""On-disk cache of sentence vectors, keyed by encoder id and text.

Encoding is the slow part of training (10-25 ms a sentence here); retraining after an
operator adds ten examples should only encode those ten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .encoder import Encoder


def _key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


class VectorCache:
    def __init__(self, directory: Path | None, encoder_id: str, kind: str = "query") -> None:
        self._file = None
        if directory is not None:
            name = hashlib.sha1(f"{encoder_id}|{kind}".encode()).hexdigest()[:16]
            self._file = directory / f"vectors-{kind}-{name}.npz"
        self._vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        if self._file is not None and self._file.exists():
            try:
                with np.load(self._file) as stored:
                    keys, vectors = stored["keys"], stored["vectors"]
                self._vectors = dict(zip(keys.tolist(), vectors, strict=True))
            except (OSError, ValueError, KeyError):
                self._vectors = {}  # a damaged cache is only a slower start

    def __len__(self) -> int:
        return len(self._vectors)

    def encode(
        self,
        texts: Sequence[str],
        encode: Callable[[Sequence[str]], np.ndarray],
        dim: int,
        on_batch: Callable[[int], None] | None = None,
        batch_size: int = 256,
    ) -> np.ndarray:
        """Vectors for `texts`, encoding only those not cached yet (in batches)."""
        keys = [_key(t) for t in texts]
        missing = sorted(
            {k: t for k, t in zip(keys, texts, strict=True) if k not in self._vectors}.items()
        )
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            vectors = encode([t for _, t in chunk])
            for (key, _), vector in zip(chunk, vectors, strict=True):
                self._vectors[key] = vector.astype(np.float32)
            self._dirty = True
            if on_batch is not None:
                on_batch(len(chunk))
        if not keys:
            return np.zeros((0, dim), dtype=np.float32)
        return np.vstack([self._vectors[k] for k in keys])

    def save(self) -> None:
        if self._file is None or not self._dirty:
            return
        self._file.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._vectors), dtype=object).astype(str)
        vectors = np.vstack(list(self._vectors.values())) if self._vectors else np.zeros((0, 1))
        tmp = self._file.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vectors=vectors)
        tmp.replace(self._file)
        self._dirty = False


def encode_with_cache(
    encoder: Encoder,
    texts: Sequence[str],
    cache_dir: Path | None,
    progress: Callable[[int], None] | None = None,
    kind: str = "query",
) -> np.ndarray:
    cache = VectorCache(cache_dir, encoder.id, kind)
    fn = encoder.encode_queries if kind == "query" else encoder.encode_passages
    vectors = cache.encode(texts, fn, encoder.dim, on_batch=progress)
    cache.save()
    return vectors
