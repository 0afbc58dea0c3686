"""The real encoder, counting what it is asked to encode: tests that a path encodes (or not)
count real calls instead of asserting on a mock."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from nlu.encoder import Encoder


class CountingEncoder:
    """Wraps a real encoder; `asked` lists every query text it encoded (thread-safe)."""

    def __init__(self, encoder: Encoder) -> None:
        self._encoder = encoder
        self.id, self.dim = encoder.id, encoder.dim
        self.asked: list[str] = []
        self._lock = threading.Lock()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            self.asked.extend(texts)
        return self._encoder.encode_queries(texts)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encoder.encode_passages(texts)
