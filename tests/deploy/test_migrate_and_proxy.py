"""What the production stack relies on besides its files: `comptoir migrate` (the one-shot
service that runs before the workers) and a back office that believes its proxy's
X-Forwarded-* headers only when told to (COMPTOIR_ADMIN_TRUSTED_PROXIES)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.store.database import SCHEMA_REVISION, Database
from bot.store.models import LoginAttempt
from tests.support.servers import free_port, wait_until_healthy


def comptoir(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COMPTOIR_DATA_DIR": str(cwd / "data"), **env},
        timeout=120,
    )


def test_migrate_brings_a_new_database_to_the_current_schema(
    database_url: str, tmp_path: Path
) -> None:
    database = Database(database_url)
    assert database.revision() is None
    done = comptoir(["migrate"], tmp_path, COMPTOIR_DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    assert f"révision {SCHEMA_REVISION}" in done.stdout
    assert database.revision() == SCHEMA_REVISION
    again = comptoir(["migrate"], tmp_path, COMPTOIR_DATABASE_URL=database_url)
    assert again.returncode == 0 and database.revision() == SCHEMA_REVISION
    database.dispose()


def test_migrate_says_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://comptoir@127.0.0.1:{free_port()}/comptoir"
    done = comptoir(["migrate"], tmp_path, COMPTOIR_DATABASE_URL=url)
    assert done.returncode == 1
    assert "Migration impossible" in done.stderr and "COMPTOIR_DATABASE_URL" in done.stderr


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.mark.parametrize(
    ("trusted", "client_seen", "https_seen"),
    [("*", "203.0.113.7", True), ("192.0.2.1", "127.0.0.1", False)],
    ids=["proxy-trusted", "proxy-not-trusted"],
)
def test_back_office_believes_only_the_proxy_it_is_told_to(
    ready,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    trusted: str,
    client_seen: str,
    https_seen: bool,
) -> None:
    url = f"sqlite:///{tmp_path / 'admin.sqlite3'}"
    port = free_port()
    env = {
        **os.environ,
        "COMPTOIR_DATA_DIR": str(ready[0].data_dir),  # the model and index already built
        "COMPTOIR_DATABASE_URL": url,
        "COMPTOIR_ADMIN_TRUSTED_PROXIES": trusted,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "admin", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    # What Caddy sends for a client at 203.0.113.7 that reached it over HTTPS.
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    try:
        wait_until_healthy(base, process, timeout=90)
        form = httpx.get(f"{base}/login", headers=forwarded)
        cookie = form.headers["set-cookie"]
        assert ("; secure" in cookie.lower()) is https_seen
        answer = httpx.post(
            f"{base}/login",
            headers={**forwarded, "Cookie": cookie.split(";", 1)[0]},
            data={
                "email": "julie@cci.example.fr",
                "password": "pas-le-bon-mot-de-passe",
                "csrf_token": CSRF.search(form.text).group(1),  # type: ignore[union-attr]
                "next": "/",
            },
        )
        assert answer.status_code == 401  # no such account: a failed attempt, recorded
    finally:
        process.terminate()
        process.wait(timeout=20)
    database = Database(url)
    with database.session() as session:
        assert session.scalars(select(LoginAttempt.ip)).all() == [client_seen]
    database.dispose()
