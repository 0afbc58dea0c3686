"""Glue used by the CLI and the bot: build the content's index, keep it current.

Plain folders in (`content_dir`, `index_dir`): the caller (bot/) reads them from its settings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from nlu.encoder import Encoder

from .content_hash import content_hash
from .content_model import KnowledgeBase
from .index import build_index, current_version
from .lexical import LEXICAL_VERSION
from .loader import load_knowledge_base
from .passages import Passage, knowledge_base_passages


def build_knowledge_index(
    content_dir: Path,
    index_dir: Path,
    encoder: Encoder,
    kb: KnowledgeBase,
    passages: list[Passage] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, object]:
    """Index `kb` (loaded from `content_dir`) into a new version under `index_dir`."""
    return build_index(
        passages if passages is not None else knowledge_base_passages(kb),
        encoder,
        index_dir,
        source=str(content_dir),
        content_hash=content_hash(content_dir),
        progress=progress,
    )


def index_is_current(content_dir: Path, index_dir: Path, encoder: Encoder) -> bool:
    version = current_version(index_dir)
    if version is None:
        return False
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    return (
        manifest.get("encoder_id") == encoder.id
        and manifest.get("lexical_version") == LEXICAL_VERSION
        and manifest.get("content_hash") == content_hash(content_dir)
    )


def ensure_index(
    content_dir: Path,
    index_dir: Path,
    encoder: Encoder,
    log: Callable[[str], None] | None = None,
) -> KnowledgeBase:
    """Load the content; rebuild the index only if the content or the encoder changed.

    Raises ContentError-like problems as ValueError with the list, leaving any existing
    index untouched, so a broken edit never takes the service down.
    """
    kb, problems = load_knowledge_base(content_dir)
    if problems:
        from .loader import ContentError

        raise ContentError(problems)
    if not index_is_current(content_dir, index_dir, encoder):
        if log is not None:
            log("Construction de l'index de recherche (une à deux minutes la première fois)...")
        build_knowledge_index(content_dir, index_dir, encoder, kb)
    return kb
