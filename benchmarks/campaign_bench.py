"""Campaigns to 1,000 merchants (600 consenting) through real `comptoir run` processes on
PostgreSQL, against a Bot API server on loopback: the bot-wide rate, the answers' latency
during a campaign, and delivery exactly once through faults and a restart.

    .venv/bin/python benchmarks/campaign_bench.py --db postgresql+psycopg://... [--kill]
        [--data-dir DIR]

Merchants outside the campaigns ask a question every half second throughout (each from a
new chat), and the phases follow each other in one run:

1. one worker sends campaign 1 (all 600 consenting; 30 blocked the bot: 403);
2. a second worker joins; both send campaign 2 (the 570 still reachable);
3. campaign 3, with two 429s (`retry_after` 1) and two 502s injected; the first worker is
   stopped (SIGTERM, or SIGKILL with --kill) once a third went out, a third worker starts.

Campaigns 1 and 2 are paused and resumed every 5 s (status `paused` and back), so answers
with and without a campaign going out are sampled in turns, alike whatever else loads the
machine: an answer counts as "campaign" when a campaign message went out while it was
awaited, as "none" when none went out from a second before the question to the answer.
COMPTOIR_CAMPAIGN_RATE is the default (25/s for the whole bot, answers included) under
COMPTOIR_TELEGRAM_MAX_RATE (30/s). Throughput is steady state: within each run of sending,
from its first message to its last. Writes benchmarks/results/campaign.json.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import func, select, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_model, percentiles  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.services import build_services  # noqa: E402
from bot.store.database import Database  # noqa: E402
from bot.store.models import Campaign, CampaignDelivery, Merchant  # noqa: E402
from tests.support.fake_bot_api import VIA, FakeBotAPI, Sent, start_comptoir  # noqa: E402

FIRST = 8_000_000
ASKING = 9_000_000  # merchants outside the campaigns who ask questions meanwhile
TEXTS = [
    "<b>Salon du numérique</b> : rendez-vous le 12 à la CCI, entrée libre.",
    "<b>Facture électronique</b> : atelier jeudi à 14 h, inscription gratuite.",
    "<b>Arnaque par SMS</b> : ne cliquez pas sur les liens d'un faux colis.",
]
QUESTION = "une alternative a gmail"
ASK_EVERY = 0.5  # seconds
TOGGLE = 5.0  # seconds: the campaigns of phases 1 and 2 are sending and paused in turns
RATE = Settings().campaign_rate


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


class Asker(threading.Thread):
    """A question every ASK_EVERY seconds from a new chat outside the campaigns: when it
    was asked and answered, and in which phase."""

    def __init__(self, api: FakeBotAPI) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.phase = "starting"
        self.samples: list[tuple[str, float, float]] = []  # phase, asked, answered
        self.stop = threading.Event()

    def run(self) -> None:
        chat = ASKING
        while not self.stop.is_set():
            phase, pushed = self.phase, time.monotonic()
            self.api.push_text(chat, QUESTION)
            try:
                answered = self.api.wait_messages(chat, 1, timeout=60)[0].at
            except TimeoutError:
                answered = pushed + 60.0
            self.samples.append((phase, pushed, answered))
            chat += 1
            self.stop.wait(max(0.0, pushed + ASK_EVERY - time.monotonic()))


def polled_by(api: FakeBotAPI, worker: str) -> bool:
    """The worker is up: it asks for updates."""
    with api._lock:
        return any(m == "getUpdates" and p.get(VIA) == worker for m, p in api.calls)


def cpu_seconds(processes: list[subprocess.Popen[bytes]]) -> float:
    """CPU time (user + system) of the live workers so far."""
    total = 0
    for process in processes:
        try:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def during(samples: list[tuple[str, float, float]], phase: str, sends: list[float]) -> dict:  # type: ignore[type-arg]
    """The phase's answer latencies, split by what the bot was doing: "campaign" when a
    campaign message went out while the question waited, "none" when none went out from a
    second before it was asked until it was answered (the others are left out)."""
    sends = sorted(sends)

    def sent_between(start: float, end: float) -> bool:
        i = bisect.bisect_left(sends, start)
        return i < len(sends) and sends[i] <= end

    split: dict[str, list[float]] = {"none": [], "campaign": []}
    for name, asked, answered in samples:
        if name != phase:
            continue
        if sent_between(asked - 0.1, answered):
            split["campaign"].append((answered - asked) * 1000)
        elif not sent_between(asked - 1.0, answered + 0.2):
            split["none"].append((answered - asked) * 1000)
    return {key: {"n": len(v), **percentiles(v)} for key, v in split.items() if v}


def runs(times: list[float], gap: float = 1.5) -> list[tuple[float, float, int]]:
    """The sending runs (split at pauses longer than `gap`): first, last, messages."""
    times, found, start = sorted(times), [], 0
    for i in range(1, len(times) + 1):
        if i == len(times) or times[i] - times[i - 1] > gap:
            found.append((times[start], times[i - 1], i - start))
            start = i
    return found


def busiest_second(times: list[float]) -> int:
    """Most messages in any one-second span (sliding, from each message)."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


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
    ready = args.data_dir or work / "ready"
    print("preparing the model and the index (once)...", flush=True)
    build_services(Settings(data_dir=ready, database_url=f"sqlite:///{work / 'x.db'}"))
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
    blocked = set(sorted(consenting)[::20])  # 5 %: 30 of 600
    reachable = consenting - blocked

    api = FakeBotAPI().start()
    api.block(*blocked)
    env = {
        "COMPTOIR_DATABASE_URL": args.db,
        "COMPTOIR_DATA_DIR": str(ready),
        "COMPTOIR_LOG_LEVEL": "WARNING",
    }

    def sends(text: str | None = None, answers: bool = False) -> list[Sent]:
        with api._lock:
            return [
                s
                for s in api.sent
                if s.method == "sendMessage"
                and ((text is not None and text in s.text) or (answers and s.chat_id >= ASKING))
            ]

    def queue(text: str) -> int:
        message = work / "message.html"
        message.write_text(text, encoding="utf-8")
        queued = comptoir(["campaign", "send", "--text-file", str(message), "--now", "--json"], env)
        print("queued:", queued, flush=True)
        return int(queued["id"])  # type: ignore[call-overload]

    def set_status(campaign_id: int, old: str, new: str) -> bool:
        """Pause or resume a campaign; False once it is done."""
        with database.engine.begin() as connection:
            connection.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id, Campaign.status == old)
                .values(status=new)
            )
            pending = connection.scalar(
                select(func.count())
                .select_from(CampaignDelivery)
                .where(
                    CampaignDelivery.campaign_id == campaign_id,
                    CampaignDelivery.status == "pending",
                )
            )
        return bool(pending)

    def until_sent(campaign_id: int) -> None:
        deadline = time.monotonic() + 300
        while comptoir(["campaign", "status", str(campaign_id), "--json"], env)["pending"]:
            assert time.monotonic() < deadline, "campaign not finished in time"
            time.sleep(0.5)

    workers: list[subprocess.Popen[bytes]] = []

    def worker() -> None:
        name = f"w{len(workers) + 1}"
        folder = work / name  # each its own data folder
        shutil.copytree(ready, folder)
        workers.append(
            start_comptoir(
                api,
                folder,
                args.db,
                cwd=work,
                COMPTOIR_TELEGRAM_BASE_URL=api.base_url_for(name),  # its calls are tagged
                COMPTOIR_LOG_LEVEL="WARNING",
                COMPTOIR_DELIVERY_LEASE_SECONDS="10",  # a killed worker's batch comes back
            )
        )

    asker = Asker(api)
    ids: list[int] = []
    marks: list[tuple[str, float, float]] = []  # phase, when it started, workers' CPU then

    def mark(phase: str) -> None:
        asker.phase = phase
        marks.append((phase, time.monotonic(), cpu_seconds(workers)))

    try:
        worker()
        api.push_text(ASKING - 1, QUESTION)  # the worker is up and answering
        api.wait_messages(ASKING - 1, 1, timeout=120)
        asker.start()
        for phase, extra_worker in (("1 worker", False), ("2 workers", True)):
            if extra_worker:
                worker()
                api.wait_for(lambda: polled_by(api, "w2"), timeout=120)
            mark(phase)
            text = TEXTS[len(ids)]
            ids.append(queue(text))
            api.wait_for(lambda text=text: bool(sends(text)), timeout=120)
            # Sending and paused in turns, so that answers with and without a campaign are
            # sampled alike whatever else loads the machine meanwhile.
            while True:
                time.sleep(TOGGLE)
                if not set_status(ids[-1], "sending", "paused"):
                    break
                time.sleep(TOGGLE)
                set_status(ids[-1], "paused", "sending")
            until_sent(ids[-1])
            mark("between")
        mark("restart")
        for _ in range(2):
            api.inject("sendMessage", {"status": 429, "retry_after": 1}, {"status": 502})
        ids.append(queue(TEXTS[2]))
        api.wait_for(lambda: len(sends(TEXTS[2])) >= len(reachable) // 3, timeout=300)
        workers[0].send_signal(signal.SIGKILL if args.kill else signal.SIGTERM)
        workers[0].wait(timeout=60)
        worker()
        until_sent(ids[-1])
        asker.stop.set()
        asker.join(timeout=70)
    finally:
        for process in workers[1:]:
            process.terminate()
            process.wait(timeout=60)
        api.stop()
        database.dispose()

    answer_times = [s.at for s in sends(answers=True)]
    report: dict[str, object] = {
        "cpu": cpu_model(),
        "merchants": args.merchants,
        "consenting": args.consenting,
        "blocked": len(blocked),
        "rate": RATE,
        "restart": "SIGKILL" if args.kill else "SIGTERM",
    }
    for index, (name, campaign_id) in enumerate(
        zip(("1 worker", "2 workers", "restart"), ids, strict=True)
    ):
        status = comptoir(["campaign", "status", str(campaign_id), "--json"], env)
        messages = sends(TEXTS[index])
        times = sorted(s.at for s in messages)
        sending = runs(times)
        # Steady state: within each run, from its first message to its last.
        seconds = sum(last - first for first, last, _ in sending)
        campaign = sum(n - 1 for _, _, n in sending) / seconds
        answers = [t for t in answer_times if any(a <= t <= b for a, b, _ in sending)]
        got = [s.chat_id for s in messages]
        counts = {c: got.count(c) for c in set(got)}
        report[f"campaign: {name}"] = {
            "status": {k: status[k] for k in ("targeted", "sent", "failed", "unreachable")},
            "received_once": sum(1 for c in reachable if counts.get(c) == 1),
            "reachable": len(reachable),
            "missing": sum(1 for c in reachable if c not in counts),
            "received_twice_or_more": sum(1 for n in counts.values() if n > 1),
            "received_outside_consent": sum(1 for c in counts if c not in consenting),
            "received_by_blocked": sum(1 for c in counts if c in blocked),
            "by_worker": sorted({s.via for s in messages}) or ["(untagged)"],
            "sending_runs": len(sending),
            "seconds_sending": round(seconds, 2),
            "campaign_per_second": round(campaign, 2),
            "answers_per_second": round(len(answers) / seconds, 2),
            "campaign_vs_rate": round(campaign / RATE, 3),
            "bot_wide_vs_rate": round((campaign + len(answers) / seconds) / RATE, 3),
            "busiest_second_campaign": busiest_second(times),
            # Where one worker's missing slots went: pauses between messages longer than
            # one and a half slots, within the runs.
            "gaps_over_1.5_slots": [
                round(b - a, 3) for a, b in itertools.pairwise(times) if 1.5 / RATE < b - a <= 1.5
            ],
            "busiest_second_bot_wide": busiest_second(times + answers),
        }
    campaign_times = [s.at for text in TEXTS for s in sends(text)]
    latency = {
        phase: during(asker.samples, phase, campaign_times)
        for phase in ("1 worker", "2 workers", "restart")
    }
    report["answers"] = latency
    report["workers_cpu_percent"] = {
        phase: round(100 * (cpu_after - cpu) / (after - at), 1)
        for (phase, at, cpu), (_, after, cpu_after) in itertools.pairwise(marks)
        if phase != "between"
    }
    for name in ("1 worker", "2 workers"):
        quiet = latency[name]["none"]["p95_ms"]
        busy = latency[name]["campaign"]["p95_ms"]
        report[f"answer p95 ratio, {name} (campaign / none)"] = round(busy / quiet, 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
