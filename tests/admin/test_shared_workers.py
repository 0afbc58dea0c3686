"""Workers share nothing but PostgreSQL: what one back office publishes or retrains reaches
every worker's own folder through the database (bot.shared_state), without restart."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.concurrency import run_in_threadpool

from bot.admin.kb_editor import publish_source
from bot.admin.web import AdminContext, make_templates
from bot.config import Settings
from bot.context import Services
from bot.reload import refresh
from bot.services import build_services
from bot.shared_state import publish_model
from knowledge_base.editing import read_item
from knowledge_base.ranker import Ranker
from nlu.encoder import encode_query


def worker(ready, root: Path, name: str, database_url: str, shipped: Path) -> Services:  # type: ignore[no-untyped-def]
    """A process of its own: a private data folder (a copy of the built model and index
    stands in for building them), the shipped content, the shared database."""
    built = ready[0]
    data = root / name
    for part in ("models", "index", "cache"):
        if (built.data_dir / part).is_dir():
            shutil.copytree(built.data_dir / part, data / part)
    return build_services(
        Settings(data_dir=data, database_url=database_url, kb_content_dir=shipped)
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_publish_and_retrain_reach_every_worker_through_postgresql(
    ready, tmp_path: Path, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    shipped = tmp_path / "shipped"
    shutil.copytree(ready[0].kb_content_dir, shipped)
    back_office = worker(ready, tmp_path, "back-office", database_url, shipped)
    bot = worker(ready, tmp_path, "bot", database_url, shipped)
    assert bot.settings.kb_content_dir == tmp_path / "bot" / "content"
    assert refresh(bot) == []

    source = read_item(back_office.settings.kb_content_dir, "tool", "pennylane")
    edited = source.replace("Logiciel français de facturation", "Logiciel français de gestion")
    admin = AdminContext(back_office, make_templates())

    async def publish() -> None:
        async with admin.publishing():
            await run_in_threadpool(publish_source, back_office, "tool", "pennylane", edited)

    asyncio.run(publish())
    # The shipped folder is untouched; the edit lives in the database and the served copies.
    assert read_item(shipped, "tool", "pennylane") == source
    assert bot.kb.tools["pennylane"].description.startswith("Logiciel français de facturation")
    assert refresh(bot) == ["kb"]
    assert bot.kb.tools["pennylane"].description.startswith("Logiciel français de gestion")
    question = "Logiciel français de gestion pennylane"
    hits = bot.search.search(question, encode_query(bot.encoder, question), k=3)
    assert any(hit.id == "pennylane" and "de gestion" in hit.passage for hit in hits)
    assert refresh(bot) == []

    # The operator brings the published edit into a git checkout, to review and commit it.
    checkout = tmp_path / "checkout"
    shutil.copytree(shipped, checkout)
    exported = subprocess.run(
        [sys.executable, "-m", "bot", "kb", "export-edits", "--out", str(checkout)],
        env={**os.environ, "COMPTOIR_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert exported.returncode == 0, exported.stderr
    assert read_item(checkout, "tool", "pennylane") == read_item(
        back_office.settings.kb_content_dir, "tool", "pennylane"
    )
    assert "de gestion" in read_item(checkout, "tool", "pennylane")

    # A retraining put another ranker in service (its own test: test_reload_and_cli): the
    # back office stores it in the database, the worker loads it from there.
    retrained = Ranker.load(ready[0].resolved_kb_ranker)
    retrained.coef = [c * 0.5 for c in retrained.coef]
    retrained.save(back_office.settings.retrained_kb_ranker)
    publish_model(
        back_office.settings, back_office.db, "ranker", back_office.settings.retrained_kb_ranker
    )
    assert refresh(bot) == ["ranker"]
    assert bot.search.ranker.coef == retrained.coef  # type: ignore[union-attr]

    # A worker started later, with an empty folder of its own, serves both at once.
    late = worker(ready, tmp_path, "late", database_url, shipped)
    assert late.kb.tools["pennylane"].description.startswith("Logiciel français de gestion")
    assert late.search.ranker.coef == retrained.coef  # type: ignore[union-attr]
    for services in (back_office, bot, late):
        services.db.dispose()
