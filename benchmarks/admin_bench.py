"""Back-office pages with 100,000 stored messages.

    .venv/bin/python benchmarks/admin_bench.py [--messages 100000] [--merchants 2000]
        [--postgres] [--window-days 365] [--repeat 15]

Fills a fresh database (SQLite by default; --postgres uses the machine's server, database
`test`, and wipes it) with merchants and messages spread over `--window-days` days, then
signs in and requests every main page through the real ASGI application, in process.
Prints p50/p95/max per page in milliseconds (goal: under 200 ms) and writes
benchmarks/results/admin.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from benchmarks.common import percentiles  # noqa: E402
from bot.admin.app import create_app  # noqa: E402
from bot.admin.auth import create_user  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.services import build_services  # noqa: E402
from bot.store.models import (  # noqa: E402
    ChecklistRun,
    DiagnosticResult,
    HandoffRequest,
    Merchant,
    Message,
)
from nlu.intents import ALL_INTENTS  # noqa: E402

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
QUESTIONS = [
    "comment vendre en ligne",
    "une alternative a gmail",
    "bandeau cookies obligatoire",
    "logiciel de caisse certifie",
    "facture electronique 2026",
    "avis google ma boutique",
    "faire une newsletter",
    "aides numerique tpe",
    "euh truc bidule",
]


def fill(services, messages: int, merchants: int, window_days: int) -> int:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    now = datetime.now(UTC)
    start = now - timedelta(days=window_days)
    with services.db.session() as session:
        session.execute(
            insert(Merchant),
            [
                {
                    "channel": "telegram",
                    "external_id": str(100000 + i),
                    "first_name": f"Commerçant {i}",
                    "language": "fr",
                    "flow_state": {},
                    "handoff_active": i % 97 == 0,
                    "reminders": False,
                    "tags": ["rappeler"] if i % 50 == 0 else [],
                    "staff_note": "",
                    "created_at": start,
                    "last_seen_at": start + timedelta(seconds=rng.uniform(0, window_days * 86400)),
                }
                for i in range(merchants)
            ],
        )
    with services.db.session() as session:
        ids = [row[0] for row in session.execute(text("SELECT id FROM merchants"))]
        # Messages in time order, as production writes them; two out of three are answers.
        moments = sorted(
            start + timedelta(seconds=rng.uniform(0, window_days * 86400)) for _ in range(messages)
        )
        batch: list[dict[str, object]] = []
        for n, moment in enumerate(moments):
            incoming = n % 3 != 2
            confidence = round(rng.uniform(0.2, 0.99), 3)
            batch.append(
                {
                    "merchant_id": rng.choice(ids),
                    "direction": "in" if incoming else "out",
                    "author": "merchant" if incoming else "bot",
                    "kind": "text",
                    "text": rng.choice(QUESTIONS) if incoming else "Voici mes conseils…",
                    "html": "",
                    "intent": rng.choice(ALL_INTENTS) if incoming else None,
                    "confidence": confidence if incoming else None,
                    "entities": [],
                    "hits": [],
                    "buttons": [],
                    "answered": (confidence > 0.3) if incoming else None,
                    "feedback": rng.choice([None, None, None, 1, -1]) if incoming else None,
                    "delivered": True,
                    "created_at": moment,
                }
            )
            if len(batch) == 5000:
                session.execute(insert(Message), batch)
                batch = []
        if batch:
            session.execute(insert(Message), batch)
        session.execute(insert(HandoffRequest), [
            {"merchant_id": i, "reason": "aide", "status": "open", "created_at": now}
            for i in ids[:: 97]
        ])  # fmt: skip
        session.execute(insert(ChecklistRun), [
            {"merchant_id": i, "checklist_id": "site-vitrine", "started_at": now,
             "updated_at": now, "finished_at": now if i % 3 == 0 else None}
            for i in ids[:: 4]
        ])  # fmt: skip
        session.execute(insert(DiagnosticResult), [
            {"merchant_id": i, "answers": {}, "completed": True, "created_at": now,
             "completed_at": now, "scores": {"visibility": 40, "overall": 50}}
            for i in ids[:: 5]
        ])  # fmt: skip
    return ids[len(ids) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--merchants", type=int, default=2_000)
    parser.add_argument("--window-days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()

    data_dir = ROOT / "benchmarks" / ".cache" / "data"
    with tempfile.TemporaryDirectory(prefix="comptoir-admin-bench-") as tmp:
        if args.postgres:
            from sqlalchemy import create_engine

            engine = create_engine(POSTGRES)
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            engine.dispose()
            url = POSTGRES
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        settings = Settings(data_dir=data_dir, database_url=url)
        services = build_services(settings, log=lambda m: print(m, file=sys.stderr))
        started = time.perf_counter()
        merchant_id = fill(services, args.messages, args.merchants, args.window_days)
        fill_s = time.perf_counter() - started
        with services.db.session() as session:
            create_user(session, "bench@example.fr", "mot-de-passe-bench", "admin")
        client = TestClient(create_app(services, with_trainer=False))
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        client.post(
            "/login",
            data={
                "csrf_token": token,
                "email": "bench@example.fr",
                "password": "mot-de-passe-bench",
            },
        )
        pages = [
            "/conversations",
            "/conversations?page=40",
            "/conversations?status=handoff",
            "/conversations?status=unanswered",
            "/conversations?status=negative",
            "/conversations?topic=ask_gdpr",
            "/conversations?q=cookies",
            "/conversations?tag=rappeler",
            f"/conversations/{merchant_id}",
            "/inbox",
            "/inbox?page=20",
            "/dashboard",
            "/dashboard?days=365",
            "/training",
            "/kb",
            "/kb/guide/cookies-bandeau-consentement",
            "/admin/audit",
        ]
        results: dict[str, dict[str, float]] = {}
        for path in pages:
            assert client.get(path).status_code == 200, path  # warm-up
            samples = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                response = client.get(path)
                samples.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200
            results[path] = percentiles(samples)
            print(
                f"{path:45s} p50 {results[path]['p50_ms']:7.1f} ms   "
                f"p95 {results[path]['p95_ms']:7.1f} ms"
            )
        services.db.dispose()
    worst = max(r["p95_ms"] for r in results.values())
    report = {
        "database": "postgresql" if args.postgres else "sqlite",
        "messages": args.messages,
        "merchants": args.merchants,
        "window_days": args.window_days,
        "fill_s": round(fill_s, 1),
        "pages": results,
        "worst_p95_ms": worst,
        "goal_ms": 200,
    }
    print(f"pire p95 : {worst:.1f} ms (objectif < 200 ms)")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    name = f"admin-{report['database']}-{args.window_days}d.json"
    (out / name).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
