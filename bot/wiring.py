"""Settings in, plain values out: the one place that tells nlu/ and knowledge_base/ which
folders, names and numbers the configuration chose (those packages never import bot/).

Light on purpose (no database, no web): every `comptoir` command imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from knowledge_base.content_model import KnowledgeBase
from knowledge_base.service import ensure_index
from nlu import factory
from nlu.encoder import Encoder, make_encoder
from nlu.model import NLUModel, Parser
from nlu.retrain import Progress, RetrainResult, retrain

from .config import Settings

Log = Callable[[str], None]


def settings_encoder(settings: Settings, threads: int | None = None) -> Encoder:
    """The configured encoder; `threads` overrides COMPTOIR_ENCODER_THREADS (batch work)."""
    chosen = settings.encoder_threads if threads is None else threads
    return make_encoder(settings.encoder, settings.encoder_model, chosen)


def intent_model(
    settings: Settings, encoder: Encoder, model_dir: Path | None = None, log: Log | None = None
) -> NLUModel:
    """The model in `model_dir`, or the default one (trained on first use into the data
    folder, with the staff's corrections)."""
    return factory.load_model(
        encoder,
        model_dir,
        default_model_dir=settings.resolved_nlu_model_dir,
        cache_dir=settings.data_dir / "cache",
        corrections_file=settings.resolved_nlu_corrections_file,
        log=log,
    )


def intent_parser(
    settings: Settings, encoder: Encoder, model_dir: Path | None = None, log: Log | None = None
) -> Parser:
    """The configured parser (COMPTOIR_NLU_BACKEND): the local model or a Rasa server."""
    return factory.make_parser(
        settings.nlu_backend,
        encoder,
        model_dir,
        rasa_url=settings.rasa_url,
        default_model_dir=settings.resolved_nlu_model_dir,
        cache_dir=settings.data_dir / "cache",
        corrections_file=settings.resolved_nlu_corrections_file,
        log=log,
    )


def retrain_intent_model(
    settings: Settings,
    encoder: Encoder,
    progress: Progress | None = None,
    train_dir: Path | None = None,
) -> tuple[RetrainResult, NLUModel | None]:
    """Retrain the default model on shipped data (or `train_dir`) + corrections
    (nlu.retrain), in place."""
    return retrain(
        encoder,
        model_dir=settings.resolved_nlu_model_dir,
        corrections_file=settings.resolved_nlu_corrections_file,
        cache_dir=settings.data_dir / "cache",
        progress=progress,
        **({"train_dir": train_dir} if train_dir is not None else {}),
    )


def ready_knowledge_base(
    settings: Settings, encoder: Encoder, log: Log | None = None
) -> KnowledgeBase:
    """The content, its index rebuilt first if the content or the encoder changed."""
    return ensure_index(settings.kb_content_dir, settings.resolved_kb_index_dir, encoder, log=log)
