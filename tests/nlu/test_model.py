"""Training, prediction, calibration and persistence on a small data set, with the real encoder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from nlu.model import ModelError, NLUModel, train_model
from nlu.training_data import load_training_data

TINY = """\
version: "3.1"
nlu:
- intent: ask_payment
  examples: |
    - accepter la carte bancaire
    - un terminal de paiement pour ma boutique
    - payer par cb en ligne
    - frais de paiement par carte
    - lien de paiement par sms
    - comment encaisser mes clients par carte
    - paiement sans contact
    - combien coute un tpe
- intent: ask_website
  examples: |
    - creer un site internet
    - acheter un nom de domaine
    - heberger mon site web
    - faire un site vitrine
    - les mentions legales de mon site
    - un site pour mon salon
    - refaire mon site internet
    - site web pas cher
- intent: greet
  examples: |
    - bonjour
    - salut
    - bonsoir
    - hello
    - coucou
    - bjr
    - slt
    - bonjour a vous
"""


@pytest.fixture(scope="module")
def tiny_model(encoder, tmp_path_factory) -> NLUModel:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("tiny") / "nlu.yml"
    path.write_text(TINY, encoding="utf-8")
    return train_model(load_training_data(path), encoder)


def test_predicts_unseen_sentences(tiny_model: NLUModel) -> None:
    assert tiny_model.parse("je voudrais prendre la carte bleue").intent == "ask_payment"
    assert tiny_model.parse("il me faut un site web").intent == "ask_website"
    assert tiny_model.parse("bonjour !").intent == "greet"


def test_confidences_are_a_probability_ranking(tiny_model: NLUModel) -> None:
    result = tiny_model.parse("nom de domaine en .fr")
    confidences = [r.confidence for r in result.ranking]
    assert confidences == sorted(confidences, reverse=True)
    assert confidences[-1] >= 0.0 and confidences[0] <= 1.0
    assert sum(confidences) == pytest.approx(1.0, abs=0.01)
    assert result.confidence == result.ranking[0].confidence


def test_save_and_load_give_identical_predictions(
    tiny_model: NLUModel, encoder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    tiny_model.save(tmp_path / "model")
    loaded = NLUModel.load(tmp_path / "model", encoder)
    texts = ["payer en ligne", "salut", "site internet"]
    vectors = encoder.encode_queries(texts)
    np.testing.assert_allclose(
        loaded.classifier.predict_proba(texts, vectors),
        tiny_model.classifier.predict_proba(texts, vectors),
        rtol=1e-5,
    )
    assert loaded.manifest["data_hash"] == tiny_model.manifest["data_hash"]
    assert loaded.manifest["encoder_id"] == encoder.id
    assert loaded.intents == ["ask_payment", "ask_website", "greet"]


def test_saving_again_replaces_the_model_atomically(tiny_model: NLUModel, tmp_path: Path) -> None:
    tiny_model.save(tmp_path / "model")
    tiny_model.save(tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_model_refuses_another_encoder(tiny_model: NLUModel, encoder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tiny_model.save(tmp_path / "model")

    class OtherEncoder:
        id = "other-encoder"
        dim = encoder.dim

    with pytest.raises(ModelError, match="réentraînez"):
        NLUModel.load(tmp_path / "model", OtherEncoder())  # type: ignore[arg-type]


def test_missing_model_folder_says_how_to_train(encoder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError, match="comptoir nlu train"):
        NLUModel.load(tmp_path, encoder)


def test_single_vector_is_shared_not_recomputed(tiny_model: NLUModel, encoder) -> None:  # type: ignore[no-untyped-def]
    from tests.support.counting_encoder import CountingEncoder

    counting = CountingEncoder(encoder)
    model = dataclasses.replace(tiny_model, encoder=counting)
    text = "combien coute un terminal"
    vector = encoder.encode_queries([text])[0]
    given = model.parse(text, vector)
    assert counting.asked == []
    assert given.encoded
    assert given.ranking == tiny_model.classifier.rank(text, vector)


def test_fast_single_message_path_matches_the_batch_path(tiny_model: NLUModel, encoder) -> None:  # type: ignore[no-untyped-def]
    texts = ["je voudrais prendre la carte bleue", "bjr", "Site internet à refaire !", "zzz"]
    vectors = encoder.encode_queries(texts)
    batch = tiny_model.classifier.predict_proba(texts, vectors)
    for i, text in enumerate(texts):
        ranked = {r.intent: r.confidence for r in tiny_model.classifier.rank(text, vectors[i])}
        expected = dict(zip(tiny_model.classifier.classes, batch[i], strict=True))
        for intent, confidence in ranked.items():
            assert confidence == pytest.approx(expected[intent], abs=1e-4)


def test_the_intent_can_be_read_in_a_part_of_the_message(tiny_model: NLUModel, encoder) -> None:  # type: ignore[no-untyped-def]
    """The question without the merchant's introduction: a greeting before it steers nothing."""
    question = "il me faut un site web"
    message = f"bonjour, bonjour, salut ! {question}"
    vector = encoder.encode_queries([question])[0]
    read = tiny_model.parse(message, vector, intent_text=question)
    assert read.text == message
    assert read.ranking == tiny_model.parse(question, vector).ranking
    assert read.intent == "ask_website"
    # read whole, the greeting's words weigh on the intent
    assert tiny_model.parse(message, vector).ranking != read.ranking
