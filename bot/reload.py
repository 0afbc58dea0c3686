"""Hot reload: pick up a knowledge base published or a model retrained by another process
(the back office running on its own against the shared data folder, or, with PostgreSQL,
any back office: what it published reaches this worker through the database), without
restart.

Both are swapped as single references in `Services`: a turn in flight keeps the objects
it started with.
"""

from __future__ import annotations

import json
import logging

from knowledge_base.loader import load_knowledge_base
from nlu.model import MANIFEST, ModelError, NLUModel

from .context import Services
from .shared_state import pull_all
from .wiring import ready_knowledge_base

log = logging.getLogger(__name__)


def _model_stamp(manifest: dict[str, object]) -> tuple[object, object]:
    return manifest.get("created"), manifest.get("data_hash")


def refresh(services: Services) -> list[str]:
    """Reload what changed on disk; returns what was reloaded ("kb", "ranker", "nlu")."""
    changed: list[str] = []
    # Workers sharing PostgreSQL: published content and models arrive through the database.
    if "content" in pull_all(services.settings, services.db):
        ready_knowledge_base(services.settings, services.encoder)  # changed passages only
    if services.search.reload_ranker(services.settings.resolved_kb_ranker):
        changed.append("ranker")
    if services.search.reload():
        kb, problems = load_knowledge_base(services.settings.kb_content_dir)
        if problems:
            log.warning("new index served, but the content has %d problems", len(problems))
        else:
            kb.precompute()
            services.kb = kb
        changed.append("kb")
    if isinstance(services.nlu, NLUModel):
        manifest_file = services.settings.resolved_nlu_model_dir / MANIFEST
        try:
            on_disk = json.loads(manifest_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return changed
        if _model_stamp(on_disk) != _model_stamp(services.nlu.manifest):
            try:
                services.nlu = NLUModel.load(
                    services.settings.resolved_nlu_model_dir, services.encoder
                )
                changed.append("nlu")
            except (ModelError, OSError, ValueError) as exc:
                log.warning("new intent model not loaded: %s", exc)
    return changed


def reindex(services: Services) -> None:
    """The content changed: rebuild the index (only changed passages are encoded) and swap."""
    kb = ready_knowledge_base(services.settings, services.encoder)
    kb.precompute()
    services.kb = kb
    services.search.reload()
