"""Glue used by the CLI and the bot: build the shipped content's index, keep it current."""

from __future__ import annotations

import json
from collections.abc import Callable

from bot.config import Settings
from nlu.encoder import Encoder

from .content_hash import content_hash
from .content_model import KnowledgeBase
from .index import build_index, current_version
from .lexical import LEXICAL_VERSION
from .loader import load_knowledge_base
from .passages import Passage, knowledge_base_passages


def build_knowledge_index(
    settings: Settings,
    encoder: Encoder,
    kb: KnowledgeBase,
    passages: list[Passage] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, object]:
    return build_index(
        passages if passages is not None else knowledge_base_passages(kb),
        encoder,
        settings.resolved_kb_index_dir,
        source=str(settings.kb_content_dir),
        content_hash=content_hash(settings.kb_content_dir),
        progress=progress,
    )


def index_is_current(settings: Settings, encoder: Encoder) -> bool:
    version = current_version(settings.resolved_kb_index_dir)
    if version is None:
        return False
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    return (
        manifest.get("encoder_id") == encoder.id
        and manifest.get("lexical_version") == LEXICAL_VERSION
        and manifest.get("content_hash") == content_hash(settings.kb_content_dir)
    )


def ensure_index(
    settings: Settings, encoder: Encoder, log: Callable[[str], None] | None = None
) -> KnowledgeBase:
    """Load the content; rebuild the index only if the content or the encoder changed.

    Raises ContentError-like problems as ValueError with the list, leaving any existing
    index untouched, so a broken edit never takes the service down.
    """
    kb, problems = load_knowledge_base(settings.kb_content_dir)
    if problems:
        from .loader import ContentError

        raise ContentError(problems)
    if not index_is_current(settings, encoder):
        if log is not None:
            log("Construction de l'index de recherche (une à deux minutes la première fois)...")
        build_knowledge_index(settings, encoder, kb)
    return kb
