"""The model used when nobody names one: trained from `nlu/data/train` on first use, cached.

It is retrained automatically when the training data or the encoder changes (the manifest
records both), so an operator who edits the YAML files only has to restart or reload. The
data is the shipped data plus the staff's corrections file, when there is one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .corrections import training_data_with_corrections
from .encoder import Encoder
from .model import FORMAT_VERSION, ModelError, NLUModel, train_model
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
    corrections_file: Path | None = None,
) -> NLUModel:
    data = (
        load_training_data(data_dir)
        if corrections_file is None
        else training_data_with_corrections(data_dir, corrections_file)
    )
    wanted = data.content_hash()
    try:
        model = NLUModel.load(model_dir, encoder)
        current = model.manifest.get("format_version") == FORMAT_VERSION
        if current and (
            model.manifest.get("data_hash") == wanted or declined_hash(model) == wanted
        ):
            return model
        reason = (
            "les données d'entraînement ont changé"
            if current
            else "le modèle en cache date d'une version précédente"
        )
    except ModelError:
        reason = "aucun modèle compatible n'est en cache"
    if log is not None:
        log(f"Entraînement du modèle de langue ({reason}), une minute environ...")
    model = train_model(data, encoder, cache_dir=cache_dir)
    model.save(model_dir)
    return model


def declined_hash(model: NLUModel) -> str | None:
    """The data hash `nlu.retrain` trained on and refused (worse on the held-out set): the
    model kept in its place must not be replaced behind staff's back at the next start."""
    declined = model.manifest.get("declined_retrain")
    return declined.get("data_hash") if isinstance(declined, dict) else None
