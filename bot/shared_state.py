"""What workers share through PostgreSQL instead of a folder: published content, models put in
service, and the staff's training corrections.

With SQLite one process serves everything from its folders. With PostgreSQL any number of
workers run, each with a local folder of its own (`COMPTOIR_DATA_DIR`):
- content: every process serves `data_dir/content`, the shipped content folder with the
  files published from the back office laid over it (`content_files`). A publish pulls the
  latest overlay, edits, then pushes the changed files; workers pull them within seconds.
- models: the intent model and the ranker, put in service by a retraining, are stored as
  archives (`model_artifacts`) and unpacked by each worker into its own folder;
- corrections: the Rasa file training reads is rewritten from `intent_corrections`, so a
  worker computes the same training-data hash as the back office (and keeps its model).

Each pull compares a stamp kept beside the local copy, so a worker does nothing when
nothing changed.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import tarfile
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nlu.corrections import normalise_corrections, read_corrections, write_corrections

from .config import Settings
from .store.database import Database
from .store.models import AppSetting, ContentFile, IntentCorrection, ModelArtifact, utcnow

log = logging.getLogger(__name__)

CONTENT_REVISION = "content_revision"  # app_settings key, bumped by every push
TRAINED_KINDS = ("intent", "out_of_scope")  # corrections that become training examples


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the process's view ----------------------------------------------------------------------


def shared_settings(settings: Settings, database: Database) -> Settings:
    """With PostgreSQL, serve `data_dir/content` (shipped content + published files) and
    remember the shipped folder; with SQLite, the settings as they are."""
    if not database.shared_by_workers or settings.kb_base_content_dir is not None:
        return settings
    return settings.with_overrides(
        kb_base_content_dir=settings.kb_content_dir,
        kb_content_dir=settings.data_dir / "content",
    )


def pull_all(settings: Settings, database: Database) -> list[str]:
    """Bring this process's local copies up to what the database holds; returns what
    changed ("corrections" is silent: it only feeds the next training)."""
    if settings.kb_base_content_dir is None:
        return []
    changed = []
    with database.session() as session:
        write_corrections_file(session, settings.resolved_nlu_corrections_file)
        if pull_model(session, "nlu", settings.resolved_nlu_model_dir):
            changed.append("nlu")
        if pull_model(session, "ranker", settings.retrained_kb_ranker):
            changed.append("ranker")
        if pull_content(session, settings.kb_base_content_dir, settings.kb_content_dir):
            changed.append("content")
    return changed


def publish_content(settings: Settings, database: Database) -> None:
    """After a publish in the back office: every worker will serve what was published."""
    if settings.kb_base_content_dir is None:
        return
    with database.session() as session:
        push_content(session, settings.kb_base_content_dir, settings.kb_content_dir)


def publish_model(settings: Settings, database: Database, name: str, path: Path) -> None:
    """After a retraining put a model in service: every worker will load it."""
    if settings.kb_base_content_dir is None or not path.exists():
        return
    with database.session() as session:
        push_model(session, name, path)


# -- content --------------------------------------------------------------------------------


def _files(root: Path) -> dict[str, bytes]:
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def _stamp_file(served_dir: Path) -> Path:
    return served_dir.parent / f".{served_dir.name}.revision"


def pull_content(session: Session, base_dir: Path, served_dir: Path) -> bool:
    """Lay the published files over the shipped folder into `served_dir` if the database
    holds a newer revision than the local copy; True if the served content changed."""
    setting = session.get(AppSetting, CONTENT_REVISION)
    revision = setting.value if setting is not None else "0"
    stamp = _stamp_file(served_dir)
    if served_dir.is_dir() and stamp.is_file() and stamp.read_text() == revision:
        return False
    staging = served_dir.with_name(served_dir.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(base_dir, staging)
    shipped = _files(base_dir)
    for row in session.scalars(select(ContentFile).order_by(ContentFile.path)):
        target = staging / row.path
        if row.base_sha and row.path in shipped and sha(shipped[row.path]) != row.base_sha:
            log.warning(
                "%s changed in the shipped content since it was edited in the back office; "
                "the edited version is served (merge them with `comptoir kb export-edits`)",
                row.path,
            )
        if row.deleted:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(row.text, encoding="utf-8")
    old = served_dir.with_name(served_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if served_dir.exists():
        served_dir.rename(old)
    staging.rename(served_dir)
    shutil.rmtree(old, ignore_errors=True)
    stamp.write_text(revision)
    return True


def push_content(session: Session, base_dir: Path, served_dir: Path) -> int:
    """Record every served file that differs from the shipped one (the back office just
    published into `served_dir`); returns the number of files laid over the shipped ones."""
    shipped, served = _files(base_dir), _files(served_dir)
    session.execute(delete(ContentFile))
    for path in sorted(set(shipped) | set(served)):
        if path in served and shipped.get(path) == served[path]:
            continue
        base = sha(shipped[path]) if path in shipped else ""
        if path in served:
            text = served[path].decode("utf-8")
            session.add(ContentFile(path=path, text=text, base_sha=base, updated_at=utcnow()))
        else:
            session.add(ContentFile(path=path, deleted=True, base_sha=base, updated_at=utcnow()))
    setting = session.get(AppSetting, CONTENT_REVISION)
    revision = str(int(setting.value) + 1) if setting is not None else "1"
    session.merge(AppSetting(key=CONTENT_REVISION, value=revision, updated_at=utcnow()))
    session.flush()
    _stamp_file(served_dir).write_text(revision)
    return session.query(ContentFile).count()


def export_edits(session: Session, target_dir: Path) -> list[str]:
    """Write the files published from the back office into a content folder (a git checkout),
    so they can be reviewed and committed; returns the paths written or removed."""
    changed = []
    for row in session.scalars(select(ContentFile).order_by(ContentFile.path)):
        target = target_dir / row.path
        if row.deleted:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(row.text, encoding="utf-8")
        changed.append(row.path)
    return changed


# -- models ---------------------------------------------------------------------------------


def _pack(path: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(path, arcname=path.name)
    return buffer.getvalue()


def _artifact_stamp(target: Path) -> Path:
    return target.parent / f".{target.name}.sha"


def push_model(session: Session, name: str, path: Path) -> None:
    """Store the model at `path` (a folder or a file) as the one every worker serves."""
    data = _pack(path)
    session.merge(ModelArtifact(name=name, sha=sha(data), data=data, created_at=utcnow()))
    _artifact_stamp(path).write_text(sha(data))


def pull_model(session: Session, name: str, target: Path) -> bool:
    """Unpack the stored model `name` at `target` if it differs from the local copy."""
    row = session.get(ModelArtifact, name)
    stamp = _artifact_stamp(target)
    if row is None or (stamp.is_file() and stamp.read_text() == row.sha and target.exists()):
        return False
    staging = target.parent / f".{target.name}.unpack"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(row.data), mode="r:gz") as archive:
        archive.extractall(staging, filter="data")
    unpacked = staging / target.name
    old = target.parent / f".{target.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    unpacked.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    stamp.write_text(row.sha)
    return True


# -- training corrections -------------------------------------------------------------------


def write_corrections_file(session: Session, path: Path) -> int:
    """The Rasa-format file training reads, regenerated from the database (which keeps who
    corrected what); rewritten only when it changes. Returns the number of examples."""
    rows = session.execute(
        select(IntentCorrection.text, IntentCorrection.kind, IntentCorrection.intent)
        .where(IntentCorrection.kind.in_(TRAINED_KINDS))
        .order_by(IntentCorrection.id)
    ).all()
    pairs = [
        (text, intent if kind == "intent" and intent else "out_of_scope")
        for text, kind, intent in rows
    ]
    if sorted(normalise_corrections(pairs)) != sorted(read_corrections(path)):
        write_corrections(path, pairs)
    return len(pairs)
