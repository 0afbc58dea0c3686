"""A campaign to 1,000 merchants (600 consenting) through real processes, against a Bot API
server on loopback.

    .venv/bin/python benchmarks/campaign_bench.py --db postgresql+psycopg://... [--kill]

`comptoir campaign send` queues it; a `comptoir run` worker sends it at the default
COMPTOIR_CAMPAIGN_RATE (25/s) under COMPTOIR_TELEGRAM_MAX_RATE (30/s); it is stopped once a
third went out (SIGTERM, or SIGKILL with --kill) and a second worker finishes. 429s, 5xx and
chats that blocked the bot (403) are injected; merchants outside the campaign ask questions
meanwhile. Prints: the campaign's duration and rate, how many merchants got it 0, 1 or 2+
times, the figures of `comptoir campaign status`, and the answers' latency during it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_model, percentiles  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.services import build_services  # noqa: E402
from bot.store.database import Database  # noqa: E402
from bot.store.models import Merchant  # noqa: E402
from tests.support.fake_bot_api import FakeBotAPI, start_comptoir  # noqa: E402

FIRST = 8_000_000
ASKING = 9_000_000  # merchants outside the campaign who ask questions during it
TEXT = "<b>Salon du numérique</b> : rendez-vous le 12 à la CCI, entrée libre."


def comptoir(args: list[str], env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(done.stdout)


def ask_meanwhile(api: FakeBotAPI, stop: threading.Event, latencies: list[float]) -> None:
    """One question a second from merchants outside the campaign: how fast are answers?"""
    chat = ASKING
    while not stop.is_set():
        pushed = time.monotonic()
        api.push_text(chat, "une alternative a gmail")
        try:
            sent = api.wait_messages(chat, 1, timeout=60)
            latencies.append((sent[0].at - pushed) * 1000)
        except TimeoutError:
            latencies.append(60_000.0)
        chat += 1
        stop.wait(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True, help="a PostgreSQL URL (emptied first)")
    parser.add_argument("--merchants", type=int, default=1000)
    parser.add_argument("--consenting", type=int, default=600)
    parser.add_argument("--kill", action="store_true", help="SIGKILL the first worker")
    parser.add_argument("--data-dir", type=Path, default=None, help="with model and index")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "campaign.json"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="comptoir-campaign-bench-"))
    data_dir = args.data_dir or work / "data"
    print("preparing the model and the index (once)...", flush=True)
    build_services(Settings(data_dir=data_dir, database_url=f"sqlite:///{work / 'x.db'}"))
    database = Database(args.db)
    with database.engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    database.migrate()
    chats = [FIRST + i for i in range(args.merchants)]
    consenting = set(chats[: args.consenting])
    with database.session() as session:
        for chat in chats:
            session.add(
                Merchant(
                    channel="telegram",
                    external_id=str(chat),
                    news_consent=chat in consenting,
                    flow_state={},
                )
            )
    database.dispose()
    blocked = set(sorted(consenting)[::20])  # 5 %: 30 of 600

    api = FakeBotAPI().start()
    api.block(*blocked)
    env = {
        "COMPTOIR_DATABASE_URL": args.db,
        "COMPTOIR_DATA_DIR": str(data_dir),
        "COMPTOIR_LOG_LEVEL": "WARNING",
    }
    message = work / "message.html"
    message.write_text(TEXT, encoding="utf-8")
    queued = comptoir(["campaign", "send", "--text-file", str(message), "--now", "--json"], env)
    print("queued:", queued, flush=True)
    for _ in range(2):
        api.inject("sendMessage", {"status": 429, "retry_after": 1}, {"status": 502})

    def campaign_sends() -> list:  # type: ignore[type-arg]
        with api._lock:
            return [s for s in api.sent if s.method == "sendMessage" and TEXT in s.text]

    def received() -> list[int]:
        return [s.chat_id for s in campaign_sends()]

    lease = {"COMPTOIR_DELIVERY_LEASE_SECONDS": "10"}  # a killed worker's batch comes back
    latencies: list[float] = []
    stop = threading.Event()
    asker = threading.Thread(target=ask_meanwhile, args=(api, stop, latencies), daemon=True)
    started = time.monotonic()
    first = start_comptoir(api, data_dir, args.db, cwd=work, COMPTOIR_LOG_LEVEL="WARNING", **lease)
    api.wait_for(lambda: len(received()) >= 1, timeout=120)
    sending_from = time.monotonic()
    asker.start()
    api.wait_for(lambda: len(received()) >= len(consenting) // 3, timeout=300)
    first.send_signal(signal.SIGKILL if args.kill else signal.SIGTERM)
    first.wait(timeout=60)
    second = start_comptoir(api, data_dir, args.db, cwd=work, COMPTOIR_LOG_LEVEL="WARNING", **lease)
    try:
        deadline = time.monotonic() + 300
        while comptoir(["campaign", "status", str(queued["id"]), "--json"], env)["pending"]:
            assert time.monotonic() < deadline, "campaign not finished in time"
            time.sleep(1.0)
        finished = time.monotonic()
        stop.set()
        asker.join(timeout=70)
    finally:
        second.terminate()
        second.wait(timeout=60)
        api.stop()
    status = comptoir(["campaign", "status", str(queued["id"]), "--json"], env)
    got = received()
    times = sorted(s.at for s in campaign_sends())
    gaps = [b - a for a, b in itertools.pairwise(times)]
    per_second = [sum(1 for t in times if start <= t < start + 1) for start in times]
    counts = {c: got.count(c) for c in set(got)}
    reachable = consenting - blocked
    results = {
        "cpu": cpu_model(),
        "merchants": args.merchants,
        "consenting": args.consenting,
        "restart": "SIGKILL" if args.kill else "SIGTERM",
        "targeted": queued["targeted"],
        "status": status,
        "reachable_received_once": sum(1 for c in reachable if counts.get(c) == 1),
        "reachable_missing": sum(1 for c in reachable if c not in counts),
        "received_twice_or_more": sum(1 for n in counts.values() if n > 1),
        "received_outside_consent": sum(1 for c in counts if c not in consenting),
        "seconds_total_with_restart": round(finished - started, 1),
        "seconds_first_to_last": round(finished - sending_from, 1),
        "messages_per_second_overall": round(len(got) / (finished - sending_from), 1),
        "messages_in_busiest_second": max(per_second),
        "longest_pause_s (restart, retry_after)": round(max(gaps), 1),
        "answers_during_campaign": {"n": len(latencies), **percentiles(latencies)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
