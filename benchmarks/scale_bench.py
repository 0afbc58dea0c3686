"""Issue 12's scale-out goals, measured side by side in one run on one machine.

    .venv/bin/python benchmarks/scale_bench.py [--quick] [--data-dir DIR] [--postgres-url URL]

1. CPU of a free-text turn against one e5 query encoding of the same texts (one process,
   SQLite and PostgreSQL; a new merchant's first message, then the same merchants' next
   one), and of a button turn against a bare python-telegram-bot handler
   (benchmarks/press_bench.py's measurement, called as is).
2. Throughput of mixed journeys (questions, commands, a profile button) POSTed to webhook
   workers from many chats at once: one worker, then two sharing PostgreSQL, in alternating
   rounds; the load generator's own CPU is reported beside the workers'.
3. Three workers through 2,000 turns, one SIGKILLed mid-run (a replacement started, as a
   supervisor would), staff messages and reminders queued meanwhile: lost, handled twice,
   replies sent twice (the at-least-once window), outbox messages delivered once.
4. Two workers on two network-namespace "hosts" sharing only PostgreSQL (root only).

Prints JSON and writes benchmarks/results/scale.json. Preparing the model and the index takes
minutes the first time: pass --data-dir to reuse a folder that has them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks import press_bench  # noqa: E402
from benchmarks.bot_bench import ALTERNATIVE_TO  # noqa: E402
from benchmarks.common import cpu_model  # noqa: E402
from benchmarks.scale_cluster import (  # noqa: E402
    CpuMeter,
    Step,
    Telegram,
    Worker,
    backend_cpu,
    create_database,
    drop_database,
    run_chats,
    wait_for,
)
from bot.assistant import Assistant  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.context import Services  # noqa: E402
from bot.kb_eval import ask  # noqa: E402
from bot.services import build_services  # noqa: E402
from bot.store.database import Database  # noqa: E402
from bot.store.models import (  # noqa: E402
    ChecklistRun,
    Merchant,
    Message,
    OutboxMessage,
    ProcessedUpdate,
    utcnow,
)
from nlu.encoder import encode_query  # noqa: E402
from tests.support.fake_bot_api import FakeBotAPI  # noqa: E402

EVAL = ROOT / "knowledge_base" / "eval"
KILL_LEASE_SECONDS = 3


def eval_texts(split: str) -> list[str]:
    return [str(q["text"]) for q in yaml.safe_load((EVAL / split).read_text("utf-8"))]


def stats(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(1000 * statistics.median(values), 2),
        "mean_ms": round(1000 * statistics.fmean(values), 2),
    }


# -- 1. CPU of a turn against its floor --------------------------------------------------
def turn_vs_encoding(services: Services, postgres_url: str, quick: bool) -> dict[str, Any]:
    """In this process: `Assistant.process` of distinct free-text questions (the held-out
    evaluation questions, each from a new merchant) on SQLite and on PostgreSQL, and
    `encode_query` of the same texts with the same encoder object, interleaved per text."""
    name = "comptoir_scale_cpu"
    pg_url = create_database(postgres_url, name)
    pg_db = Database(pg_url)
    pg_db.migrate()
    pg_services = Services(
        services.settings.with_overrides(database_url=pg_url),
        pg_db,
        services.encoder,
        services.nlu,
        services.kb,
        services.search,
    )
    assistants = {"sqlite": Assistant(services), "postgresql": Assistant(pg_services)}
    for i, text in enumerate(eval_texts("train.yml")[:10]):  # warm-up, not measured
        encode_query(services.encoder, text)
        for label, assistant in assistants.items():
            ask(assistant, f"warm-{label}-{i}", text)
    texts = eval_texts("test.yml")[: 60 if quick else None]
    backends_before = backend_cpu(postgres_url, [name])
    encoding, turns = timed_turns(services, assistants, texts)
    backends = backend_cpu(postgres_url, [name])
    pg_server = sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends.items())
    # The same merchants write again, other questions (train split): a returning merchant's
    # turn, which finds its merchant row instead of inserting it.
    again = eval_texts("train.yml")[10 : 10 + len(texts)]
    again_encoding, again_turns = timed_turns(services, assistants, again)
    pg_db.dispose()
    drop_database(postgres_url, name)
    report: dict[str, Any] = {"questions": len(texts), "encoding": stats(encoding)}
    report.update(turn_ratios(turns, encoding))
    report["postgresql"]["server_backend_cpu_ms_per_turn"] = round(1000 * pg_server / len(texts), 2)
    report["returning_merchant"] = {
        "questions": len(again),
        "encoding": stats(again_encoding),
        **turn_ratios(again_turns, again_encoding),
    }
    return report


def timed_turns(
    services: Services, assistants: dict[str, Assistant], texts: list[str]
) -> tuple[list[float], dict[str, list[float]]]:
    """CPU seconds of each text's encoding, and of its turn on each assistant; text i is
    written by merchant "q-{database}-{i}" (new at its first turn)."""
    encoding: list[float] = []
    turns: dict[str, list[float]] = {label: [] for label in assistants}
    for i, text in enumerate(texts):
        start = time.process_time()
        encode_query(services.encoder, text)
        encoding.append(time.process_time() - start)
        for label, assistant in assistants.items():
            turns[label].append(ask(assistant, f"q-{label}-{i}", text).cpu_seconds)
    return encoding, turns


def turn_ratios(turns: dict[str, list[float]], encoding: list[float]) -> dict[str, Any]:
    """Each database's turns against the encodings of the same texts."""
    report: dict[str, Any] = {}
    for label, values in turns.items():
        ratios = [t / e for t, e in zip(values, encoding, strict=True) if e > 0]
        report[label] = {
            "turn": stats(values),
            "ratio_of_medians": round(statistics.median(values) / statistics.median(encoding), 3),
            "ratio_of_means": round(statistics.fmean(values) / statistics.fmean(encoding), 3),
            "median_of_per_question_ratios": round(statistics.median(ratios), 3),
        }
    return report


def button_vs_bare_handler(
    ready_dir: Path, work: Path, questions: int, quick: bool
) -> dict[str, Any]:
    """benchmarks/press_bench.py's measurement, in this run (`questions`: the diagnostic's)."""
    apis = {"comptoir": FakeBotAPI().start(), "bare_handler": FakeBotAPI().start()}
    press_work = work / "press"
    press_work.mkdir()
    try:
        measured = press_bench.run(
            apis,
            ready_dir,
            press_work,
            rounds=3 if quick else 5,
            merchants=2,
            questions=questions,
            baseline=None,
            database_url=None,
        )
    finally:
        for api in apis.values():
            api.stop()
    comptoir, bare = measured["comptoir"], measured["bare_handler"]
    return {
        "comptoir_cpu_ms_per_press": comptoir["cpu_ms_per_press"],  # type: ignore[index]
        "bare_handler_cpu_ms_per_press": bare["cpu_ms_per_press"],  # type: ignore[index]
        "cpu_ratio": round(
            float(comptoir["cpu_ms_per_press"]) / float(bare["cpu_ms_per_press"]),  # type: ignore[index]
            2,
        ),
        "rounds": {"comptoir": comptoir, "bare_handler": bare},
    }


# -- 2. throughput -----------------------------------------------------------------------
def journey(questions: list[str], tool: str) -> list[Step]:
    """A merchant's mixed turns: 5 free texts, 3 commands, a profile button."""
    return [
        ("say", "/start"),
        ("press", "pf:"),
        ("say", questions[0]),
        ("say", "/aide"),
        ("say", f"une alternative a {tool}"),
        ("say", questions[1]),
        ("say", "/progression"),
        ("say", questions[2]),
        ("say", "merci beaucoup"),
    ]


def plans_for(first_chat: int, chats: int, questions: list[str]) -> dict[int, list[Step]]:
    return {
        first_chat + i: journey(
            questions[3 * i : 3 * i + 3], ALTERNATIVE_TO[i % len(ALTERNATIVE_TO)]
        )
        for i in range(chats)
    }


def processed_count(db_url: str) -> int:
    database = Database(db_url)
    with database.session() as session:
        count = int(session.scalar(select(func.count()).select_from(ProcessedUpdate)) or 0)
    database.dispose()
    return count


def background_load(
    pids: dict[str, int], postgres_url: str, seconds: float = 3.0
) -> dict[str, Any]:
    """The machine while this bench's workers are idle: what other users' work takes."""
    with CpuMeter(pids, postgres_url, []) as meter:
        time.sleep(seconds)  # a measurement window, not a wait for a condition
    report = meter.report(0, list(pids))
    return {
        "seconds": report["wall_s"],
        "machine_busy_cores": round(report["machine_busy_cpu_s"] / report["wall_s"], 2),
        "idle_workers_and_bench_cores": round(
            (report["serving_workers_cpu_s"] + report["load_generator_and_bot_api_cpu_s"])
            / report["wall_s"],
            2,
        ),
    }


def throughput(
    api: FakeBotAPI, ready_dir: Path, work: Path, postgres_url: str, quick: bool
) -> dict[str, Any]:
    """One worker (database A) and two (database B) up at once; rounds alternate A B B A so
    the machine's other load falls on both alike; the best round of each is kept."""
    names = {"one_worker": "comptoir_scale_one", "two_workers": "comptoir_scale_two"}
    urls = {config: create_database(postgres_url, name) for config, name in names.items()}
    for url in urls.values():
        Database(url).migrate()  # once, before the workers start (README)
    root = work / "throughput"
    workers = {
        "one_worker": [Worker(api, "a0", urls["one_worker"], ready_dir, root, 60)],
        "two_workers": [
            Worker(api, f"b{i}", urls["two_workers"], ready_dir, root, 60) for i in range(2)
        ],
    }
    everyone = [w for group in workers.values() for w in group]
    chats_per_round = 32 if quick else 64
    concurrency = 32
    rounds = 1 if quick else 2
    questions = eval_texts("train.yml") + eval_texts("test.yml")
    random.Random(12).shuffle(questions)
    try:
        for worker in everyone:
            worker.wait_ready()
        telegrams = {config: Telegram(group) for config, group in workers.items()}
        for n, telegram in enumerate(telegrams.values()):  # warm-up, not measured
            run_chats(api, telegram, plans_for(900_000 + 100 * n, 4, questions[-12:]), 4)
        idle_cores_busy = background_load({w.name: w.process.pid for w in everyone}, postgres_url)
        # A B, then B A: neither configuration always runs first.
        order = [
            ("one_worker" if (r + k) % 2 == 0 else "two_workers", r)
            for r in range(rounds)
            for k in (0, 1)
        ]
        measured: dict[str, list[dict[str, Any]]] = {config: [] for config in workers}
        for config, r in order:
            first_chat = (1 if config == "one_worker" else 2) * 1_000_000 + r * 10_000
            per_round = 3 * chats_per_round
            plans = plans_for(first_chat, chats_per_round, questions[r * per_round :])
            pids = {w.name: w.process.pid for w in everyone}
            with CpuMeter(pids, postgres_url, list(names.values())) as meter:
                result = run_chats(api, telegrams[config], plans, concurrency)
            result["cpu"] = meter.report(result["turns"], [w.name for w in workers[config]])
            result["round"] = r
            measured[config].append(result)
            print(config, json.dumps(result), flush=True)
        report: dict[str, Any] = {
            "machine_before_the_rounds": idle_cores_busy,
            "rounds_order": [config for config, _ in order],
        }
        for config, rows in measured.items():
            # The best round: the one other users' work on the machine disturbed least.
            report[config] = {
                **max(rows, key=lambda row: row["turns_per_second"]),
                "turns_per_second_rounds": [row["turns_per_second"] for row in rows],
            }
        one, two = report["one_worker"], report["two_workers"]
        report["ratio_two_vs_one"] = round(two["turns_per_second"] / one["turns_per_second"], 3)
        report["ceiling"] = ceiling(one, two)
        # Every acknowledged update was recorded once.
        for config, url in urls.items():
            acknowledged = telegrams[config].acknowledged
            report[config]["processed_updates_equal_acknowledged"] = (
                processed_count(url) == acknowledged
            )
        return report
    finally:
        for worker in everyone:
            worker.stop()
        for name in names.values():
            drop_database(postgres_url, name)


def ceiling(one: dict[str, Any], two: dict[str, Any]) -> dict[str, Any]:
    """What the machine allows, from the CPU the rounds used: one worker is one process
    (how many cores it kept busy), and two workers can at most fill every core with turns
    costing what they cost here (workers, PostgreSQL backends, load generator)."""
    cpu = two["cpu"]
    per_turn = (
        cpu["serving_workers_cpu_s"]
        + cpu["postgres_backends_cpu_s"]
        + cpu["load_generator_and_bot_api_cpu_s"]
    ) / two["turns"]
    cores = os.cpu_count() or 1
    best = cores / per_turn
    return {
        "one_worker_cores_used": round(
            one["cpu"]["serving_workers_cpu_s"] / one["cpu"]["wall_s"], 2
        ),
        "cpu_ms_per_turn_all_parts": round(1000 * per_turn, 2),
        "all_cores_turns_per_second": round(best, 1),
        "best_ratio_vs_measured_one_worker": round(best / one["turns_per_second"], 2),
    }


# -- 3. SIGKILL --------------------------------------------------------------------------
SMALL_TALK = ["bonjour", "/aide", "/progression", "merci", "/checklists"]


def kill_plans(chats: int, turns: int, questions: list[str]) -> dict[int, list[Step]]:
    """Free-text questions, small talk and commands (one reply each, or a few)."""
    plans: dict[int, list[Step]] = {}
    q = 0
    for i in range(chats):
        steps: list[Step] = []
        for t in range(turns):
            if t % 2:
                steps.append(("say", SMALL_TALK[(i + t) % len(SMALL_TALK)]))
            else:
                steps.append(("say", questions[q % len(questions)]))
                q += 1
        plans[7_000_000 + i] = steps
    return plans


def add_reminder_merchants(db_url: str, first_chat: int, count: int, checklist: str) -> list[int]:
    """Merchants who asked for reminders, each with a checklist reminder already due."""
    database = Database(db_url)
    with database.session() as session:
        for i in range(count):
            merchant = Merchant(
                channel="telegram",
                external_id=str(first_chat + i),
                first_name=f"Rappel{i}",
                reminders=True,
            )
            session.add(merchant)
            session.flush()
            session.add(
                ChecklistRun(
                    merchant_id=merchant.id,
                    checklist_id=checklist,
                    remind_at=utcnow() - timedelta(minutes=5),
                )
            )
    database.dispose()
    return [first_chat + i for i in range(count)]


def queue_outbox(db_url: str, chats: list[int], kind: str, marker: str) -> dict[int, str]:
    """One outbox message per chat (merchants of the load); returns chat -> its marker."""
    database = Database(db_url)
    markers: dict[int, str] = {}
    with database.session() as session:
        rows = session.execute(
            select(Merchant.id, Merchant.external_id).where(
                Merchant.external_id.in_([str(c) for c in chats])
            )
        ).all()
        for n, (merchant_id, chat) in enumerate(rows):
            label = f"[{marker}-{n:03d}]"
            markers[int(chat)] = label
            if kind == "staff":
                session.add(OutboxMessage(merchant_id=merchant_id, text=f"Message {label}"))
            else:
                session.add(
                    OutboxMessage(
                        merchant_id=merchant_id,
                        author="bot",
                        kind="reminder",
                        text=f"Rappel {label}",
                        html=f"<b>Rappel</b> {label}",
                        buttons=[],
                    )
                )
    database.dispose()
    return markers


def settled(db_url: str) -> bool:
    database = Database(db_url)
    with database.session() as session:
        undelivered = session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.direction == "out", Message.delivered.is_(False))
        )
        pending = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
        )
        due = session.scalar(
            select(func.count())
            .select_from(ChecklistRun)
            .where(ChecklistRun.remind_at.is_not(None))
        )
    database.dispose()
    return undelivered == 0 and pending == 0 and due == 0


def sigkill(
    api: FakeBotAPI, ready_dir: Path, work: Path, postgres_url: str, checklist: str, quick: bool
) -> dict[str, Any]:
    name = "comptoir_scale_kill"
    url = create_database(postgres_url, name)
    Database(url).migrate()
    root = work / "sigkill"
    chats, turns = (40, 10) if quick else (100, 20)
    total = chats * turns
    # Due before the workers start: every worker's first reminder job (5 s after its start)
    # runs at about the same time, and each reminder must be sent once.
    reminder_chats = add_reminder_merchants(url, 8_000_000, 10, checklist)
    workers = [Worker(api, f"k{i}", url, ready_dir, root, KILL_LEASE_SECONDS) for i in range(3)]
    replacement: list[Worker] = []
    try:
        for worker in workers:
            worker.wait_ready()
        telegram = Telegram(workers)
        questions = eval_texts("test.yml") + eval_texts("train.yml")
        plans = kill_plans(chats, turns, questions)
        sent: dict[int, list[str]] = {}
        outcome: dict[str, Any] = {}
        errors: list[BaseException] = []

        def load() -> None:
            try:
                outcome.update(run_chats(api, telegram, plans, 24, sent))
            except BaseException as error:  # reported after the join
                errors.append(error)

        loader = threading.Thread(target=load)
        loader.start()
        telegram.wait_acknowledged(total // 4)
        started_chats = list(plans)[:20]  # the thread pool started these first
        staff = queue_outbox(url, started_chats[:10], "staff", "conseiller")
        reminders = queue_outbox(url, started_chats[10:], "reminder", "rappel")
        # Due mid-run: taken by the replacement's first reminder job (the others' next run
        # is 600 s away).
        reminder_chats += add_reminder_merchants(url, 8_100_000, 10, checklist)
        telegram.wait_acknowledged(int(total * 0.4))
        victim = workers[0]
        killed_at = telegram.acknowledged
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=30)
        victim.alive = False
        replacement.append(Worker(api, "k3", url, ready_dir, root, KILL_LEASE_SECONDS))
        replacement[0].wait_ready()
        telegram.add(replacement[0])
        joined_at = telegram.acknowledged
        loader.join()
        if errors:
            raise errors[0]
        wait_for(lambda: settled(url), timeout=180)
        names = {w.name for w in workers + replacement}
        report = verify_once(api, url, sent, staff, reminders, reminder_chats, victim.name, names)
        return {
            "workers": 3,
            "chats": chats,
            "turns_posted": sum(len(p) for p in plans.values()),
            "acknowledged": telegram.acknowledged,
            "redelivered_attempts": telegram.redelivered,
            "killed_after_acknowledged": killed_at,
            "replacement_joined_after_acknowledged": joined_at,
            "delivery_lease_seconds": KILL_LEASE_SECONDS,
            "load": outcome,
            **report,
        }
    finally:
        for worker in workers + replacement:
            worker.stop()
        drop_database(postgres_url, name)


def verify_once(
    api: FakeBotAPI,
    url: str,
    sent: dict[int, list[str]],
    staff: dict[int, str],
    reminders: dict[int, str],
    reminder_chats: list[int],
    victim: str,
    workers: set[str],
) -> dict[str, Any]:
    """What the database recorded and what Telegram received, against what was sent."""
    database = Database(url)
    with database.session() as session:
        processed = int(session.scalar(select(func.count()).select_from(ProcessedUpdate)) or 0)
        received = session.execute(
            select(Merchant.external_id, Message.text)
            .join(Merchant)
            .where(Message.direction == "in")
            .order_by(Message.id)
        ).all()
        stored_out = session.execute(
            select(Merchant.external_id, Message.html)
            .join(Merchant)
            .where(Message.direction == "out")
        ).all()
        outbox_sent = int(
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "sent")
            )
            or 0
        )
    database.dispose()
    by_chat: dict[int, list[str]] = {}
    for chat, message in received:
        by_chat.setdefault(int(chat), []).append(message)
    lost = handled_twice = out_of_order = 0
    for chat, texts in sent.items():
        got = by_chat.get(chat, [])
        lost += sum((Counter(texts) - Counter(got)).values())
        handled_twice += sum((Counter(got) - Counter(texts)).values())
        out_of_order += got != texts
    sends = [s for s in api.sent if s.method == "sendMessage" and s.via in workers]
    expected = Counter((int(chat), html) for chat, html in stored_out)
    got_sends = Counter((s.chat_id, s.text) for s in sends)
    twice = got_sends - expected
    by_victim = by_live = 0
    for (chat, html), extra in twice.items():
        senders = [s.via for s in sends if s.chat_id == chat and s.text == html]
        if victim in senders and extra == 1:
            by_victim += 1
        else:
            by_live += extra

    t0 = sends[0].at if sends else 0.0

    def deliveries(matches: dict[int, str]) -> dict[str, Any]:
        """How many times each chat received its message (`matches`: a text it contains)."""
        received = {
            chat: [s for s in sends if s.chat_id == chat and part in s.text]
            for chat, part in matches.items()
        }
        counts = Counter(len(got) for got in received.values())
        return {
            "queued": len(matches),
            "delivered_once": counts[1],
            "delivered_twice_or_more": sum(n for k, n in counts.items() if k > 1),
            "not_delivered": counts[0],
            "twice": [
                [(s.via, round(s.at - t0, 2)) for s in got]
                for got in received.values()
                if len(got) > 1
            ][:5],
        }

    return {
        "updates_sent": sum(len(t) for t in sent.values()),
        "processed_updates": processed,
        "lost": lost,
        "handled_twice": handled_twice,
        "chats_out_of_order": out_of_order,
        "replies_stored": len(stored_out),
        "replies_never_sent": sum((expected - got_sends).values()),
        "replies_sent_twice_in_the_killed_workers_window": by_victim,
        "replies_sent_twice_by_live_workers": by_live,
        "staff_messages": deliveries(staff),
        "queued_reminders": deliveries(reminders),
        "checklist_reminders": deliveries({chat: "" for chat in reminder_chats}),
        "outbox_rows_sent": outbox_sent,
        "sends_by_worker": dict(Counter(s.via for s in sends)),
    }


# -- 4. two hosts ------------------------------------------------------------------------
def two_hosts(
    api: FakeBotAPI, ready_dir: Path, work: Path, postgres_url: str, quick: bool
) -> dict[str, Any]:
    """Two workers, each in its own network namespace, reaching PostgreSQL and the Bot API
    only through the root namespace's veth addresses."""
    from benchmarks.scale_netns import Hosts

    if os.geteuid() != 0:
        return {"skipped": "needs root for `ip netns add`"}
    name = "comptoir_scale_hosts"
    url = create_database(postgres_url, name)
    Database(url).migrate()
    pg = make_url(url)
    pg_port = pg.port or 5432
    root = work / "hosts"
    network = Hosts(2, {pg_port: pg_port, api.port: api.port})
    try:
        with network as hosts:
            workers: list[Worker] = []
            try:
                for i, host in enumerate(hosts):
                    workers.append(
                        Worker(
                            api,
                            f"h{i}",
                            pg.set(host=host.root_address).render_as_string(hide_password=False),
                            ready_dir,
                            root,
                            60,
                            host=host.address,
                            prefix=host.exec_prefix,
                            bot_api_base=f"http://{host.root_address}:{api.port}",
                        )
                    )
                return drive_hosts(api, network, hosts, workers, url, postgres_url, quick)
            finally:  # before the namespaces go: their connections close cleanly
                for worker in workers:
                    worker.stop()
    finally:
        drop_database(postgres_url, name)


def drive_hosts(
    api: FakeBotAPI,
    network: Any,
    hosts: list[Any],
    workers: list[Worker],
    url: str,
    postgres_url: str,
    quick: bool,
) -> dict[str, Any]:
    for worker in workers:
        worker.wait_ready()
    namespaces = {w.name: os.readlink(f"/proc/{w.process.pid}/ns/net") for w in workers}
    namespaces["bench"] = os.readlink("/proc/self/ns/net")
    telegram = Telegram(workers)
    questions = eval_texts("test.yml")
    random.Random(4).shuffle(questions)
    run_chats(api, telegram, plans_for(5_900_000, 4, questions[-12:]), 4)  # warm-up
    plans = plans_for(5_000_000, 16 if quick else 32, questions)
    pids = {w.name: w.process.pid for w in workers}
    relays_before = network.relay_cpu_seconds()
    with CpuMeter(pids, postgres_url, [make_url(url).database or ""]) as meter:
        result = run_chats(api, telegram, plans, 32)
    result["cpu"] = meter.report(result["turns"], list(pids))
    result["cpu"]["socat_relays_cpu_s"] = round(network.relay_cpu_seconds() - relays_before, 2)
    sends = Counter(s.via for s in api.sent if s.via in pids and s.method == "sendMessage")
    return {
        "hosts": [
            {"namespace": h.name, "address": h.address, "reaches_postgres_via": h.root_address}
            for h in hosts
        ],
        "network_namespaces": namespaces,
        **result,
        "processed_updates_equal_acknowledged": processed_count(url) == telegram.acknowledged,
        "sends_by_worker": dict(sends),
    }


# -- main --------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer turns (about 5 minutes)")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="a data folder with the model and the index"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "COMPTOIR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL server where the bench may create and drop its databases",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="comptoir-scale-bench-"))
    ready_dir = args.data_dir or work / "ready"
    print("preparing the model and the index (once)...", flush=True)
    started = time.monotonic()
    services = build_services(
        Settings(
            data_dir=ready_dir,
            database_url=f"sqlite:///{work / 'cpu.sqlite3'}",
            encoder_threads=1,
        )
    )
    checklist = sorted(services.kb.checklists)[0]
    diagnostic = services.kb.diagnostic
    assert diagnostic is not None, "the shipped content has a diagnostic"
    results: dict[str, Any] = {"cpu": cpu_model(), "cores": os.cpu_count(), "quick": args.quick}
    results["text_turn_vs_encoding"] = turn_vs_encoding(services, args.postgres_url, args.quick)
    print("text turn vs encoding:", json.dumps(results["text_turn_vs_encoding"]), flush=True)
    services.db.dispose()
    del services
    results["button_turn_vs_bare_handler"] = button_vs_bare_handler(
        ready_dir, work, len(diagnostic.questions), args.quick
    )
    print("button turn:", json.dumps(results["button_turn_vs_bare_handler"]), flush=True)
    api = FakeBotAPI().start()
    try:
        results["throughput"] = throughput(api, ready_dir, work, args.postgres_url, args.quick)
        results["sigkill"] = sigkill(api, ready_dir, work, args.postgres_url, checklist, args.quick)
        print("sigkill:", json.dumps(results["sigkill"]), flush=True)
        results["two_hosts"] = two_hosts(api, ready_dir, work, args.postgres_url, args.quick)
        print("two hosts:", json.dumps(results["two_hosts"]), flush=True)
    finally:
        api.stop()
        for phase in ("press", "throughput", "sigkill", "hosts"):  # the workers' folders
            shutil.rmtree(work / phase, ignore_errors=True)
    results["seconds"] = round(time.monotonic() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(results, indent=2, ensure_ascii=False))
    if args.data_dir is None:
        print(f"model and index kept in {ready_dir} (--data-dir to reuse)", flush=True)


if __name__ == "__main__":
    main()
