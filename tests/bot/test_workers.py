"""The scale-out contract: N `comptoir run` webhook workers sharing only PostgreSQL serve one
bot. Updates are POSTed round-robin with the secret header; one worker is killed with
SIGKILL mid-load, and what it did not acknowledge is re-sent to the others, as Telegram does.

Every update is then handled exactly once (one merchant message, in order per chat), every
reply and staff message is delivered, and a reply reaches Telegram twice only in the
at-least-once window the design names: sent by the killed worker, which died before it could
record the send (another worker re-sends it once the lease ends).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from bot.store.database import Database
from bot.store.models import Merchant, Message, OutboxMessage, ProcessedUpdate
from tests.support.fake_bot_api import FakeBotAPI, start_comptoir
from tests.support.servers import free_port, wait_until_healthy

WORKERS = 3
CHATS = 24
SECRET = "secret-des-workers"
PATH = "/telegram/contrat"
TURNS = [
    "bonjour",
    "/aide",
    "une alternative a gmail",
    "comment vendre en ligne ?",
    "/progression",
    "c'est quoi la facture électronique ?",
    "merci",
]
KILL_AFTER = 60  # acknowledged updates before the SIGKILL
LEASE_SECONDS = "3"


@pytest.fixture()
def shared_database() -> Any:
    """A PostgreSQL database of this test's own (the workers are separate processes)."""
    base = os.environ.get(
        "COMPTOIR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    name = f"comptoir_workers_{os.getpid()}"
    admin = create_engine(base.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class Worker:
    def __init__(self, api: FakeBotAPI, name: str, db_url: str, ready_dir: Path, root: Path):
        # Its own data folder, never shared: a copy of the trained model and index stands
        # in for the ones it would build on first start (minutes on two cores).
        self.data_dir = root / name
        for part in ("models", "index", "cache"):
            if (ready_dir / part).exists():
                shutil.copytree(ready_dir / part, self.data_dir / part)
        self.name = name
        self.port = free_port()
        self.process = start_comptoir(
            api,
            self.data_dir,
            db_url,
            cwd=self.data_dir,
            COMPTOIR_TELEGRAM_BASE_URL=api.base_url_for(name),
            COMPTOIR_WEBHOOK_URL=f"https://bot.example.invalid{PATH}",
            COMPTOIR_WEBHOOK_SECRET=SECRET,
            COMPTOIR_WEBHOOK_LISTEN="127.0.0.1",
            COMPTOIR_WEBHOOK_PORT=str(self.port),
            COMPTOIR_DELIVERY_LEASE_SECONDS=LEASE_SECONDS,
        )
        self.alive = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, update: dict[str, Any]) -> int:
        """The HTTP status, or 0 when the worker did not answer (killed, refused)."""
        request = urllib.request.Request(
            self.url + PATH,
            data=json.dumps(update).encode(),
            headers={
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": SECRET,
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0


class Telegram:
    """Delivers each chat's updates in order, round-robin over the workers; an update a
    worker did not acknowledge with 200 goes to the next worker."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self._next = 0
        self._mutex = threading.Lock()
        self.acknowledged = 0
        self.redelivered = 0
        self.acked = threading.Condition(self._mutex)

    def _pick(self) -> Worker:
        with self._mutex:
            alive = [w for w in self.workers if w.alive]
            worker = alive[self._next % len(alive)]
            self._next += 1
            return worker

    def deliver(self, update: dict[str, Any]) -> None:
        for _ in range(20):
            if self._pick().post(update) == 200:
                with self._mutex:
                    self.acknowledged += 1
                    self.acked.notify_all()
                return
            with self._mutex:
                self.redelivered += 1
        raise AssertionError(f"update {update['update_id']} was never acknowledged")


def test_workers_answer_each_update_once_even_when_one_is_killed(
    api: FakeBotAPI,
    ready,
    shared_database: str,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    ready_dir = ready[0].data_dir
    Database(shared_database).migrate()  # as deploy/compose.yaml's one-shot service does
    workers = [Worker(api, f"w{i}", shared_database, ready_dir, tmp_path) for i in range(WORKERS)]
    try:
        for worker in workers:
            wait_until_healthy(worker.url, worker.process, timeout=180)
        telegram = Telegram(workers)
        chats = [7700000 + i for i in range(CHATS)]
        sent_updates: dict[int, list[str]] = {chat: [] for chat in chats}

        def merchant(chat: int) -> None:
            for turn in TURNS:
                sent_updates[chat].append(turn)
                telegram.deliver(api.text_update(chat, turn))

        # A staff message queued for some merchants: delivered once by whichever worker.
        def queue_staff_messages() -> None:
            database = Database(shared_database)
            with database.session() as session:
                for merchant_id in session.scalars(select(Merchant.id).limit(6)):
                    session.add(OutboxMessage(merchant_id=merchant_id, text="Rappel du conseiller"))
            database.dispose()

        threads = [threading.Thread(target=merchant, args=(chat,)) for chat in chats]
        for thread in threads:
            thread.start()
        with telegram.acked:
            telegram.acked.wait_for(lambda: telegram.acknowledged >= KILL_AFTER, timeout=300)
        queue_staff_messages()
        victim = workers[0]
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=30)
        victim.alive = False
        for thread in threads:
            thread.join(timeout=600)
        assert telegram.acknowledged == CHATS * len(TURNS)

        database = Database(shared_database)

        def settled() -> bool:
            with database.session() as session:
                undelivered = session.scalar(
                    select(func.count())
                    .select_from(Message)
                    .where(Message.direction == "out", Message.delivered.is_(False))
                )
                pending = session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status == "pending")
                )
            return undelivered == 0 and pending == 0

        api.wait_for(settled, timeout=120)

        with database.session() as session:
            # Exactly once: every update recorded once, one merchant message each, in order.
            assert session.scalar(select(func.count()).select_from(ProcessedUpdate)) == (
                CHATS * len(TURNS)
            )
            for chat in chats:
                received = session.scalars(
                    select(Message.text)
                    .join(Merchant)
                    .where(Merchant.external_id == str(chat), Message.direction == "in")
                    .order_by(Message.id)
                ).all()
                assert list(received) == sent_updates[chat]
            stored_out = session.execute(
                select(Merchant.external_id, Message.html)
                .join(Merchant)
                .where(Message.direction == "out")
            ).all()
            staff_rows = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "sent")
            )
        assert staff_rows == 6

        # Delivered: Telegram received every stored reply; anything received twice was first
        # sent by the killed worker (it died between Telegram's acceptance and recording it).
        expected = Counter((int(chat), html) for chat, html in stored_out)
        received_sends = [s for s in api.sent if s.method == "sendMessage"]
        got = Counter((s.chat_id, s.text) for s in received_sends)
        assert not (expected - got), "a stored reply never reached Telegram"
        twice = got - expected
        for (chat, html), extra in twice.items():
            senders = [s.via for s in received_sends if s.chat_id == chat and s.text == html]
            assert victim.name in senders, f"sent twice by live workers: {html[:60]!r}"
            assert extra == 1
        # Every worker took part, and the others took over the victim's share.
        vias = Counter(s.via for s in received_sends)
        assert all(vias[w.name] > 0 for w in workers), vias
        database.dispose()
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.process.wait(timeout=30)
            except Exception:
                worker.process.kill()
