"""Build the parser asked for: the local model or a Rasa server.

Plain values in (a backend name, folders): the caller (bot/) reads them from its settings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .default import load_or_train
from .encoder import Encoder
from .model import NLUModel, Parser
from .rasa_backend import RasaParser


def load_model(
    encoder: Encoder,
    model_dir: Path | None = None,
    *,
    default_model_dir: Path,
    cache_dir: Path | None = None,
    corrections_file: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> NLUModel:
    """The named model, or the default one in `default_model_dir` (shipped data + staff
    corrections; trained on first use, then cached)."""
    if model_dir is not None:
        return NLUModel.load(model_dir, encoder)
    return load_or_train(
        default_model_dir,
        encoder,
        cache_dir=cache_dir,
        log=log,
        corrections_file=corrections_file,
    )


def make_parser(
    backend: str,
    encoder: Encoder,
    model_dir: Path | None = None,
    *,
    rasa_url: str,
    default_model_dir: Path,
    cache_dir: Path | None = None,
    corrections_file: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> Parser:
    """`backend` is "local" (our model) or "rasa" (a running Rasa server at `rasa_url`)."""
    if backend == "rasa":
        return RasaParser(rasa_url)
    if backend != "local":
        raise ValueError(f"COMPTOIR_NLU_BACKEND={backend!r} inconnu : 'local' ou 'rasa'.")
    return load_model(
        encoder,
        model_dir,
        default_model_dir=default_model_dir,
        cache_dir=cache_dir,
        corrections_file=corrections_file,
        log=log,
    )
