"""The Telegram bot under load, through a Bot API server on loopback.

    .venv/bin/python benchmarks/bot_bench.py [--merchants 100] [--turns 10] [--rate 50]

Runs `comptoir run` as a real process (SQLite, polling) against tests/support/fake_bot_api,
with many simulated merchants. Every turn used here gets exactly one answer, so the k-th
answer in a chat belongs to the k-th message of that chat. Prints: cold start to first
answer, sustained latency at a fixed rate (p50/p95 from pushing the update to sendMessage),
maximum throughput on a burst, peak RSS, and whether any update was lost or answered twice.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.services import build_services  # noqa: E402
from tests.support.fake_bot_api import FakeBotAPI, start_comptoir  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

# Turns that get exactly one reply: questions, alternatives, small talk, commands.
TURNS = [
    "comment vendre en ligne mes produits",
    "c quoi le click and collect",
    "une alternative a gmail",
    "remplacer whatsapp pour parler aux clients",
    "logiciel de caisse certifie obligatoire ?",
    "bandeau cookies obligatoire",
    "j'ai recu un mail bizarre de ma banque",
    "comment avoir des avis clients",
    "faire une newsletter pour mes clients",
    "aides pour se numeriser",
    "bonjour",
    "merci beaucoup",
    "/aide",
    "/progression",
    "quoi poster sur instagram",
    "un terminal de paiement pas cher",
    "nom de domaine en .fr",
    "facture electronique quand",
]


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_bot(api: FakeBotAPI, data_dir: Path, db_url: str) -> subprocess.Popen[bytes]:
    return start_comptoir(
        api,
        data_dir,
        db_url,
        cwd=data_dir,
        COMPTOIR_LOG_LEVEL="WARNING",
        COMPTOIR_ADMIN_PORT=str(free_port()),  # the default: the back office beside the bot
        # The loopback server has no rate limit: measure what the bot itself can do
        # (against Telegram, COMPTOIR_TELEGRAM_MAX_RATE keeps the default 30 messages/s).
        COMPTOIR_TELEGRAM_MAX_RATE=os.environ.get("COMPTOIR_TELEGRAM_MAX_RATE", "0"),
    )


def run_load(
    api: FakeBotAPI, chats: list[int], turns: int, rate: float | None, seed: int
) -> dict[str, object]:
    """Push `turns` messages per chat (at `rate` per second overall, or all at once)."""
    rng = random.Random(seed)
    before = {chat: api.count_to(chat) for chat in chats}
    plan = [(chat, rng.choice(TURNS)) for _ in range(turns) for chat in chats]
    pushed: dict[int, list[float]] = {chat: [] for chat in chats}
    started = time.monotonic()
    for i, (chat, text) in enumerate(plan):
        if rate:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        pushed[chat].append(time.monotonic())
        api.push_text(chat, text)
    expected = {chat: before[chat] + turns for chat in chats}
    api.wait_for(lambda: all(len(api.messages_to(c)) >= expected[c] for c in chats), timeout=600)
    finished = time.monotonic()
    time.sleep(2.0)  # anything answered twice shows up now
    latencies, extra = [], 0
    for chat in chats:
        answers = [s for s in api.messages_to(chat)][before[chat] :]
        extra += max(0, len(answers) - turns)
        for push_time, answer in zip(pushed[chat], answers[:turns], strict=True):
            latencies.append((answer.at - push_time) * 1000)
    values = np.asarray(latencies)
    return {
        "turns": len(plan),
        "seconds": round(finished - started, 2),
        "turns_per_second": round(len(plan) / (finished - started), 1),
        "latency_p50_ms": round(float(np.percentile(values, 50)), 1),
        "latency_p95_ms": round(float(np.percentile(values, 95)), 1),
        "latency_max_ms": round(float(values.max()), 1),
        "lost": 0,
        "answered_twice": extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--merchants", type=int, default=100)
    parser.add_argument("--turns", type=int, default=10, help="per merchant, per phase")
    parser.add_argument("--rate", type=float, default=50.0, help="turns/s of the paced phase")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="reuse a data folder that already has the model and the index",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bot.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="comptoir-bot-bench-"))
    settings = Settings(data_dir=args.data_dir or work / "data")
    print("preparing the model and the index (once)...", flush=True)
    build_services(settings)  # what a deployed instance has on disk before a restart
    api = FakeBotAPI().start()
    db_url = f"sqlite:///{work / 'bench.sqlite3'}"
    results: dict[str, object] = {"merchants": args.merchants}
    spawned = time.monotonic()
    bot = start_bot(api, settings.data_dir, db_url)
    try:
        api.push_text(1, "bonjour")
        api.wait_messages(1, 1, timeout=120)
        results["cold_start_to_first_answer_s"] = round(time.monotonic() - spawned, 2)
        print("cold start:", results["cold_start_to_first_answer_s"], flush=True)
        chats = [100_000 + i for i in range(args.merchants)]
        run_load(api, chats[:10], 2, None, seed=0)  # warm-up
        results["paced"] = run_load(api, chats, args.turns, args.rate, seed=1)
        print("paced:", results["paced"], flush=True)
        results["burst"] = run_load(api, chats, args.turns, None, seed=2)
        print("burst:", results["burst"], flush=True)
        results["peak_rss_mb"] = round(rss_peak_mb(bot.pid), 1)
    finally:
        bot.terminate()
        bot.wait(timeout=30)
        api.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
