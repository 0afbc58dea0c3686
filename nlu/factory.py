"""Build the parser the configuration asks for: the local model or a Rasa server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.config import Settings

from .default import load_or_train
from .encoder import Encoder
from .model import NLUModel, Parser
from .rasa_backend import RasaParser


def load_model(
    settings: Settings,
    encoder: Encoder,
    model_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> NLUModel:
    """The named model, or the default one (shipped data + staff corrections; trained on
    first use, then cached)."""
    if model_dir is not None:
        return NLUModel.load(model_dir, encoder)
    return load_or_train(
        settings.resolved_nlu_model_dir,
        encoder,
        cache_dir=settings.data_dir / "cache",
        log=log,
        corrections_file=settings.resolved_nlu_corrections_file,
    )


def make_parser(
    settings: Settings,
    encoder: Encoder,
    model_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> Parser:
    if settings.nlu_backend == "rasa":
        return RasaParser(settings.rasa_url)
    if settings.nlu_backend != "local":
        raise ValueError(
            f"COMPTOIR_NLU_BACKEND={settings.nlu_backend!r} inconnu : 'local' ou 'rasa'."
        )
    return load_model(settings, encoder, model_dir, log)
