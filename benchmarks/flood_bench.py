"""Other merchants' reply latency while one chat floods, through the Telegram channel.

    .venv/bin/python benchmarks/flood_bench.py [--seconds 25] [--merchants 10] [--rate 5]
        [--flooders 1] [--burst 50] [--postgres URL]

Runs `comptoir run` as a real process (SQLite by default) against the loopback Bot API
(tests/support/fake_bot_api). `--merchants` chats ask questions at `--rate` turns/s overall
(each well under the flood limit); their latency (push to sendMessage) is measured in three
phases of `--seconds` each: no flood; `--flooders` chats each sending `--burst` messages at
once every 10 s (issue 12: "50 messages in 10 s"), with flood control on; the same with flood
control off (COMPTOIR_FLOOD_MAX_MESSAGES=0, the bot restarted). Also prints the bot's CPU
seconds per phase and what the flooding chats received. About 1.5 minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from benchmarks.bot_bench import TURNS  # noqa: E402
from benchmarks.common import cpu_model, percentiles  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.services import build_services  # noqa: E402
from bot.store.database import Database  # noqa: E402
from bot.store.models import Merchant, Message  # noqa: E402
from tests.support.fake_bot_api import FakeBotAPI, start_comptoir  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

FLOOD_PERIOD = 10.0  # seconds between a flooder's bursts


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_bot(api: FakeBotAPI, data_dir: Path, db_url: str, **env: str) -> subprocess.Popen[bytes]:
    return start_comptoir(
        api,
        data_dir,
        db_url,
        cwd=data_dir,
        COMPTOIR_LOG_LEVEL="WARNING",
        COMPTOIR_ADMIN_PORT=str(free_port()),
        COMPTOIR_TELEGRAM_MAX_RATE="0",  # the loopback server has no rate limit
        **env,
    )


def wait_ready(api: FakeBotAPI, chat: int) -> None:
    before = api.count_to(chat)
    api.push_text(chat, "bonjour")
    api.wait_messages(chat, before + 1, timeout=180)


def run_phase(
    api: FakeBotAPI,
    pid: int,
    chats: list[int],
    rate: float,
    seconds: float,
    flooders: list[int],
    burst: int,
) -> dict[str, object]:
    """Measured chats at `rate` turns/s for `seconds`; flooders push `burst` messages at once
    every FLOOD_PERIOD seconds, starting one second in."""
    before = {chat: api.count_to(chat) for chat in chats + flooders}
    plan = [(chats[i % len(chats)], TURNS[i % len(TURNS)]) for i in range(int(seconds * rate))]
    pushed: dict[int, list[float]] = {chat: [] for chat in chats}
    flood_pushed = 0
    stop = threading.Event()

    def flood() -> None:
        nonlocal flood_pushed
        next_burst = time.monotonic() + 1.0
        while not stop.wait(max(0.0, next_burst - time.monotonic())):
            for i in range(burst):
                for chat in flooders:
                    api.push_text(chat, f"allo ? vous êtes là ? {i}")
                    flood_pushed += 1
            next_burst += FLOOD_PERIOD

    flooding = threading.Thread(target=flood, daemon=True)
    cpu_before = cpu_seconds(pid)
    started = time.monotonic()
    if flooders:
        flooding.start()
    for i, (chat, text) in enumerate(plan):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the load generator, not waiting for the bot
        pushed[chat].append(time.monotonic())
        api.push_text(chat, text)
    stop.set()
    if flooders:
        flooding.join()
    expected = {chat: before[chat] + len(pushed[chat]) for chat in chats}
    api.wait_for(lambda: all(api.count_to(c) >= expected[c] for c in chats), timeout=300)
    cpu_used = cpu_seconds(pid) - cpu_before
    latencies = []
    for chat in chats:
        answers = api.messages_to(chat)[before[chat] :]
        for push_time, answer in zip(pushed[chat], answers, strict=False):
            latencies.append((answer.at - push_time) * 1000)
    result: dict[str, object] = {
        "measured_turns": len(latencies),
        "latency": percentiles(latencies),
        "bot_cpu_seconds": round(cpu_used, 2),
    }
    if flooders:
        result["flood_messages_pushed"] = flood_pushed
        result["flood_replies_received"] = sum(api.count_to(c) - before[c] for c in flooders)
    return result


def flood_stored(database: Database, flooders: list[int]) -> dict[str, int]:
    """What the bot kept of the flood."""
    with database.session() as session:
        rows = session.execute(
            select(Message.flooded, func.count())
            .join(Merchant, Merchant.id == Message.merchant_id)
            .where(
                Merchant.external_id.in_([str(c) for c in flooders]),
                Message.direction == "in",
            )
            .group_by(Message.flooded)
        ).all()
    counts = {bool(flooded): int(n) for flooded, n in rows}
    return {"stored": sum(counts.values()), "held_unanswered": counts.get(True, 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=25.0, help="per phase")
    parser.add_argument("--merchants", type=int, default=10, help="measured chats")
    parser.add_argument("--rate", type=float, default=5.0, help="measured turns/s, overall")
    parser.add_argument("--flooders", type=int, default=1)
    parser.add_argument("--burst", type=int, default=50, help="messages per flooder per 10 s")
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL (its schema is wiped)")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="a data folder with the model and the index"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "flood.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="comptoir-flood-bench-"))
    settings = Settings(data_dir=args.data_dir or work / "data")
    print("preparing the model and the index (once)...", flush=True)
    build_services(settings).db.dispose()
    chats = [400_000 + i for i in range(args.merchants)]
    flooders = [900_000 + i for i in range(args.flooders)]
    results: dict[str, object] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "database": "postgresql" if args.postgres else "sqlite",
        "measured_merchants": args.merchants,
        "measured_rate_per_s": args.rate,
        "phase_seconds": args.seconds,
        "flooders": args.flooders,
        "burst_every_10s": args.burst,
    }
    api = FakeBotAPI().start()
    try:
        for control, env in (("on", {}), ("off", {"COMPTOIR_FLOOD_MAX_MESSAGES": "0"})):
            db_url = args.postgres or f"sqlite:///{work / f'flood-{control}.sqlite3'}"
            if args.postgres:
                wipe(args.postgres)
            bot = start_bot(api, settings.data_dir, db_url, **env)
            try:
                wait_ready(api, chats[0])
                if control == "on":
                    results["no_flood"] = run_phase(
                        api, bot.pid, chats, args.rate, args.seconds, [], args.burst
                    )
                    print("no flood:", results["no_flood"], flush=True)
                phase = run_phase(
                    api, bot.pid, chats, args.rate, args.seconds, flooders, args.burst
                )
                # The flood was pushed during the phase; its processing may trail it.
                pushed = int(phase["flood_messages_pushed"])  # type: ignore[call-overload]
                database = Database(db_url)
                deadline = time.monotonic() + 300
                while flood_stored(database, flooders)["stored"] < pushed:
                    if time.monotonic() > deadline:
                        raise TimeoutError("the flood was not all stored")
                    time.sleep(0.2)  # polling the bot's database for a condition
                phase.update(flood_stored(database, flooders))
                database.dispose()
                phase["flood_replies_received"] = sum(api.count_to(c) for c in flooders)
                results[f"flood_control_{control}"] = phase
                print(f"flood, control {control}:", phase, flush=True)
            finally:
                bot.terminate()
                bot.wait(timeout=30)
            flooders = [f + 1000 for f in flooders]  # fresh chats for the next bot
    finally:
        api.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(results, indent=2))


def wipe(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


if __name__ == "__main__":
    main()
