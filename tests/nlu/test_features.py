"""The bot's own n-gram analyzers must cut exactly what scikit-learn cut at training time."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from nlu.default import DEFAULT_TEST_FILE, DEFAULT_TRAIN_DIR
from nlu.features import _ANALYZERS, Featurizer, _vectorizers, stemmed
from nlu.text import fold
from nlu.training_data import load_training_data

EDGE_CASES = [
    "",
    "a",
    "ok",
    "Bonjour  !!  je   VEUX\tun site",
    "c quoi le click&collect ? l'appli d'Orange",
    "été ÉTÉ œuvre naïve façade",
    "🙂 merci 👍",
    "x" * 40,
    "prix: 12,50€ TTC / mois (HT=10€)",
    "e-mail, e‑mail, mail-de-google",
]


def _texts() -> list[str]:
    texts = [*load_training_data(DEFAULT_TRAIN_DIR).texts(), *EDGE_CASES]
    return [*texts, *load_training_data(DEFAULT_TEST_FILE).texts()]


@pytest.mark.parametrize("view", sorted(_ANALYZERS))
def test_analyzers_match_scikit_learn(view: str) -> None:
    reference = _vectorizers()[view].build_analyzer()
    prepare = stemmed if view == "stem" else fold
    for text in _texts():
        assert _ANALYZERS[view](prepare(text)) == reference(prepare(text)), text


def test_single_message_features_equal_the_batch_features_after_a_reload() -> None:
    texts = load_training_data(DEFAULT_TRAIN_DIR).texts()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(texts), 8)).astype(np.float32)
    fitted = Featurizer().fit(texts)
    loaded = Featurizer.from_state(*fitted.state())
    probe = [*EDGE_CASES, "jveu vendre mes gateaux sur insta", "alternative a gmail svp"]
    batch = loaded.transform(probe, vectors[: len(probe)]).toarray()
    for row, text in enumerate(probe):
        columns, values = loaded.transform_one(text, vectors[row])
        single = np.zeros(batch.shape[1])
        single[columns] = values
        np.testing.assert_allclose(single, batch[row], rtol=1e-5, atol=1e-6)


def test_answering_does_not_import_scikit_learn() -> None:
    """What `comptoir run` loads (CLI, back office, model, parse) stays clear of sklearn: a
    second of its cold start on the project's machine."""
    code = (
        "import sys, numpy as np\n"
        "import bot.cli, bot.admin.app, bot.admin.server\n"
        "from nlu.features import Featurizer\n"
        "f = Featurizer.from_state({'vector_weight': 2.0, 'vocabularies': "
        "{'char': [' a'], 'word': ['a'], 'stem': ['a']}}, "
        "{'idf_char': np.ones(1), 'idf_word': np.ones(1), 'idf_stem': np.ones(1)})\n"
        "f.transform_one('a', np.zeros(4))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
