"""A hash of the content folder: what an index was built from."""

from __future__ import annotations

import hashlib
from pathlib import Path


def content_hash(content_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(content_dir).rglob("*") if p.is_file()):
        if path.suffix not in (".md", ".yml", ".yaml"):
            continue
        digest.update(str(path.relative_to(content_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
