"""The model used when nobody names one: trained from `nlu/data/train` on first use, cached.

It is retrained automatically when the training data or the encoder changes (the manifest
records both), so an operator who edits the YAML files only has to restart or reload.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .encoder import Encoder
from .model import ModelError, NLUModel, train_model
from .training_data import load_training_data

PACKAGE_DATA = Path(__file__).resolve().parent / "data"
DEFAULT_TRAIN_DIR = PACKAGE_DATA / "train"
DEFAULT_TEST_FILE = PACKAGE_DATA / "test.yml"


def load_or_train(
    model_dir: Path,
    encoder: Encoder,
    data_dir: Path = DEFAULT_TRAIN_DIR,
    cache_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> NLUModel:
    data = load_training_data(data_dir)
    wanted = data.content_hash()
    try:
        model = NLUModel.load(model_dir, encoder)
        if model.manifest.get("data_hash") == wanted:
            return model
        reason = "les données d'entraînement ont changé"
    except ModelError:
        reason = "aucun modèle compatible n'est en cache"
    if log is not None:
        log(f"Entraînement du modèle de langue ({reason}), une minute environ...")
    model = train_model(data, encoder, cache_dir=cache_dir)
    model.save(model_dir)
    return model
