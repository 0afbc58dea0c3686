"""Webhook workers for benchmarks/scale_bench.py: real `comptoir run` processes sharing one
PostgreSQL database, a Telegram stand-in that POSTs updates round-robin to them (re-sending
what a worker did not acknowledge), and the CPU accounting of a load phase.

The approach is tests/bot/test_workers.py's: each worker has its own data folder holding a
copy of a prepared model and index, and its Bot API calls are tagged by name.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from benchmarks.common import percentiles
from benchmarks.press_bench import cpu_seconds
from tests.support.fake_bot_api import FakeBotAPI
from tests.support.servers import free_port, wait_until_healthy

ROOT = Path(__file__).resolve().parents[1]
SECRET = "secret-du-banc-de-charge"
PATH = "/telegram/banc"
TICKS = os.sysconf("SC_CLK_TCK")


# -- PostgreSQL -------------------------------------------------------------------------
def admin_url(base_url: str) -> str:
    return base_url.rsplit("/", 1)[0] + "/postgres"


def create_database(base_url: str, name: str) -> str:
    """A fresh database `name` on the server of `base_url`; returns its URL."""
    engine = create_engine(admin_url(base_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(base_url: str, name: str) -> None:
    engine = create_engine(admin_url(base_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def backend_cpu(base_url: str, names: Sequence[str]) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving databases `names` (by pid)."""
    engine = create_engine(admin_url(base_url))
    with engine.connect() as connection:
        pids = connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = ANY(:names)"),
            {"names": list(names)},
        ).scalars()
        pids = list(pids)
    engine.dispose()
    found = {}
    for pid in pids:
        try:
            found[int(pid)] = cpu_seconds(int(pid))
        except OSError:  # the backend ended meanwhile
            continue
    return found


# -- CPU accounting ---------------------------------------------------------------------
def machine_busy_seconds() -> float:
    """CPU seconds spent by every process on the machine so far, all cores (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICKS


@dataclass
class CpuMeter:
    """CPU used during a phase: the workers, this process (load generator and loopback Bot
    API), the PostgreSQL backends of the phase's databases, and the whole machine."""

    pids: dict[str, int]
    postgres_url: str
    databases: Sequence[str]
    start: dict[str, Any] = field(default_factory=dict)

    def _read(self) -> dict[str, Any]:
        workers = {}
        for name, pid in self.pids.items():
            try:
                workers[name] = cpu_seconds(pid)
            except OSError:
                workers[name] = None  # killed: its CPU until then is unknown here
        return {
            "wall": time.monotonic(),
            "workers": workers,
            "generator": time.process_time(),
            "postgres": backend_cpu(self.postgres_url, self.databases),
            "machine": machine_busy_seconds(),
        }

    def __enter__(self) -> CpuMeter:
        self.start = self._read()
        return self

    def __exit__(self, *exc: object) -> None:
        self.end = self._read()

    def report(self, turns: int, active: Sequence[str]) -> dict[str, Any]:
        start, end = self.start, self.end
        wall = end["wall"] - start["wall"]
        per_worker = {
            name: round(end["workers"][name] - start["workers"][name], 2)
            for name in self.pids
            if end["workers"][name] is not None and start["workers"][name] is not None
        }
        serving = sum(per_worker.get(name, 0.0) for name in active)
        generator = end["generator"] - start["generator"]
        postgres = sum(
            cpu - start["postgres"].get(pid, 0.0) for pid, cpu in end["postgres"].items()
        )
        machine = end["machine"] - start["machine"]
        cores = os.cpu_count() or 1
        return {
            "wall_s": round(wall, 2),
            "machine_capacity_cpu_s": round(wall * cores, 2),
            "machine_busy_cpu_s": round(machine, 2),
            "serving_workers_cpu_s": round(serving, 2),
            "serving_workers_cpu_ms_per_turn": round(1000 * serving / max(turns, 1), 2),
            "per_worker_cpu_s": per_worker,
            "load_generator_and_bot_api_cpu_s": round(generator, 2),
            "load_generator_share_of_busy": round(generator / machine, 3) if machine else None,
            "postgres_backends_cpu_s": round(postgres, 2),
            "everything_else_cpu_s": round(
                machine - sum(per_worker.values()) - generator - postgres, 2
            ),
        }


# -- workers ----------------------------------------------------------------------------
class Worker:
    """One `comptoir run` webhook worker with a data folder of its own."""

    def __init__(
        self,
        api: FakeBotAPI,
        name: str,
        db_url: str,
        ready_dir: Path,
        root: Path,
        lease_seconds: int,
        host: str = "127.0.0.1",
        prefix: Sequence[str] = (),
        bot_api_base: str | None = None,
    ) -> None:
        self.data_dir = root / name
        for part in ("models", "index", "cache"):
            if (ready_dir / part).exists():
                shutil.copytree(ready_dir / part, self.data_dir / part)
        self.name = name
        self.host = host
        self.port = free_port() if host == "127.0.0.1" else 8443
        base = bot_api_base or f"http://127.0.0.1:{api.port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "COMPTOIR_TELEGRAM_TOKEN": api.token,
            "COMPTOIR_TELEGRAM_BASE_URL": f"{base}/via/{name}/bot",
            "COMPTOIR_TELEGRAM_BASE_FILE_URL": f"{base}/file/bot",
            "COMPTOIR_DATA_DIR": str(self.data_dir),
            "COMPTOIR_DATABASE_URL": db_url,
            "COMPTOIR_ADMIN_PORT": "0",
            "COMPTOIR_LOG_LEVEL": "WARNING",
            "COMPTOIR_ENCODER_THREADS": "1",
            # The loopback Bot API has no rate limit: measure what the workers can do.
            "COMPTOIR_TELEGRAM_MAX_RATE": "0",
            "COMPTOIR_DELIVERY_LEASE_SECONDS": str(lease_seconds),
            "COMPTOIR_WEBHOOK_URL": f"https://bot.example.invalid{PATH}",
            "COMPTOIR_WEBHOOK_SECRET": SECRET,
            "COMPTOIR_WEBHOOK_LISTEN": host,
            "COMPTOIR_WEBHOOK_PORT": str(self.port),
        }
        self.log = (root / f"{name}.log").open("wb")
        self.process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "bot", "run"],
            env=env,
            cwd=self.data_dir,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.alive = True
        self._local = threading.local()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def wait_ready(self, timeout: float = 300) -> None:
        wait_until_healthy(self.url, self.process, timeout=timeout)

    def _connection(self, fresh: bool) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None or fresh:
            if connection is not None:
                connection.close()
            connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
            self._local.connection = connection
        return connection

    def post(self, update: dict[str, Any]) -> int:
        """The HTTP status, or 0 when the worker did not answer (killed, refused). A kept-alive
        connection the server closed meanwhile is retried once on a new one."""
        body = json.dumps(update).encode()
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
        for fresh in (False, True):
            connection = self._connection(fresh)
            try:
                connection.request("POST", PATH, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                return response.status
            except (http.client.HTTPException, OSError):
                connection.close()
                self._local.connection = None
        return 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        self.log.close()


class Telegram:
    """Delivers updates round-robin over the live workers; one a worker did not acknowledge
    with 200 goes to the next, as Telegram re-delivers."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = list(workers)
        self._next = itertools.count()
        self._mutex = threading.Lock()
        self.acked = threading.Condition(self._mutex)
        self.acknowledged = 0
        self.redelivered = 0
        self.latencies_ms: list[float] = []

    def add(self, worker: Worker) -> None:
        with self._mutex:
            self.workers.append(worker)

    def _pick(self) -> Worker:
        with self._mutex:
            alive = [w for w in self.workers if w.alive]
            return alive[next(self._next) % len(alive)]

    def deliver(self, update: dict[str, Any]) -> None:
        started = time.monotonic()
        for _ in range(30):
            if self._pick().post(update) == 200:
                with self._mutex:
                    self.acknowledged += 1
                    self.latencies_ms.append((time.monotonic() - started) * 1000)
                    self.acked.notify_all()
                return
            with self._mutex:
                self.redelivered += 1
        raise RuntimeError(f"update {update['update_id']} was never acknowledged")

    def wait_acknowledged(self, count: int, timeout: float = 600) -> None:
        with self.acked:
            if not self.acked.wait_for(lambda: self.acknowledged >= count, timeout=timeout):
                raise TimeoutError(f"fewer than {count} updates acknowledged in time")


# -- merchants --------------------------------------------------------------------------
Step = tuple[str, str]  # ("say", text) or ("press", callback-data prefix)


def run_chats(
    api: FakeBotAPI,
    telegram: Telegram,
    plans: dict[int, list[Step]],
    concurrency: int,
    sent: dict[int, list[str]] | None = None,
) -> dict[str, Any]:
    """Each chat's steps in order (a step after the previous one was acknowledged), many
    chats at once on a thread pool; a press takes the last message's first button whose
    data starts with the prefix (skipped when there is none)."""
    before = telegram.acknowledged
    presses = [0]
    counter = threading.Lock()

    def chat_journey(chat: int) -> None:
        for kind, value in plans[chat]:
            if kind == "say":
                if sent is not None:
                    sent.setdefault(chat, []).append(value)
                telegram.deliver(api.text_update(chat, value))
                continue
            shown = api.view(chat)
            buttons = [
                b
                for b in (shown[-1].buttons if shown else [])
                if b.get("callback_data", "").startswith(value)
            ]
            if buttons:
                telegram.deliver(
                    api.callback_update(chat, buttons[0]["callback_data"], shown[-1].message_id)
                )
                with counter:
                    presses[0] += 1

    latencies_from = len(telegram.latencies_ms)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(chat_journey, chat) for chat in plans]:
            future.result()
    seconds = time.monotonic() - started
    turns = telegram.acknowledged - before
    return {
        "chats": len(plans),
        "concurrent_chats": concurrency,
        "turns": turns,
        "button_presses": presses[0],
        "seconds": round(seconds, 2),
        "turns_per_second": round(turns / seconds, 1),
        "latency": percentiles(telegram.latencies_ms[latencies_from:]),
    }


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.5) -> None:
    """Poll a condition on the database (no notification to wait on) until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached in time")
        time.sleep(step)
