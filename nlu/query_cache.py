"""A bounded in-memory cache of query vectors, for the short texts merchants repeat.

"bonjour", "merci", "ok" and the clarify buttons' texts come back all day; encoding is most
of a turn's CPU time. Keys are the normalised text, and the encoder is always asked for
that normalised text (cache on or off), so a vector depends on its key only: a hit returns
exactly what a miss would have computed.

Normalising only collapses whitespace, which leaves e5's vectors bit-for-bit unchanged
(its tokenizer splits on whitespace). Case is kept: e5 is cased ("Bonjour" and "bonjour"
have a cosine of 0.95) and the shipped ranker was trained on cased vectors; casefolding
changed no intent on the held-out set but moved the ranker's held-out figures. Accents
and punctuation carry meaning and are kept too. "Bonjour" and "bonjour" are two entries:
both stay cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .encoder import Encoder, encode_query


def normalise(text: str) -> str:
    """The cache key, and the text actually encoded: whitespace collapsed and stripped."""
    return " ".join(text.split())


def query_vector(encoder: Encoder, text: str) -> np.ndarray:
    """A turn's vector without a cache: the same request a `QueryCache` miss makes."""
    return encode_query(encoder, normalise(text))


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    size: int  # entries held now
    capacity: int

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class QueryCache:
    """`vector(text)` through an LRU of `capacity` entries (0: no cache, every call encodes).

    Thread-safe: turns run in worker threads. Encoding happens outside the lock, so a slow
    miss never holds up other turns; two threads missing the same text both encode it (the
    same vector) and both count a miss.
    """

    def __init__(self, encoder: Encoder, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, not {capacity}")
        self.encoder = encoder
        self.capacity = capacity
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def vector(self, text: str) -> np.ndarray:
        """The (dim,) float32 vector of `text`; a fresh array the caller may modify."""
        key = normalise(text)
        with self._lock:
            cached = self._vectors.get(key)
            if cached is not None:
                self._vectors.move_to_end(key)
                self._hits += 1
                return cached.copy()
            self._misses += 1
        vector = np.array(encode_query(self.encoder, key), dtype=np.float32)
        if self.capacity:
            with self._lock:
                self._vectors[key] = vector.copy()
                self._vectors.move_to_end(key)
                while len(self._vectors) > self.capacity:
                    self._vectors.popitem(last=False)
        return vector

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._vectors), self.capacity)
