"""The Telegram bot under load, through a Bot API server on loopback.

    .venv/bin/python benchmarks/bot_bench.py [--merchants 100] [--turns 10] [--rate 50]

Runs `comptoir run` as a real process (SQLite, polling) against tests/support/fake_bot_api,
with many simulated merchants. Prints: cold start to first answer, sustained latency at a
fixed rate (p50/p95 from pushing the update to sendMessage), maximum throughput on a burst
of free-text turns, throughput of whole merchant journeys (what merchants do: /start and the
profile buttons, a question, feedback, the whole diagnostic, a checklist, an alternative),
peak RSS, and whether any update was lost or answered twice.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import yaml

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
        # Simulated merchants with no thinking time run a journey faster than any person:
        # flood control would hold them (benchmarks/flood_bench.py measures it).
        COMPTOIR_FLOOD_MAX_MESSAGES=os.environ.get("COMPTOIR_FLOOD_MAX_MESSAGES", "0"),
        # The turns below repeat 18 texts: with the vector cache on, most would skip the
        # encoder. Headline figures are measured without it (vector_cache_bench.py measures it).
        COMPTOIR_VECTOR_CACHE_SIZE=os.environ.get("COMPTOIR_VECTOR_CACHE_SIZE", "0"),
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


# Tools merchants ask an alternative to (free text, through the intent model and the entities).
ALTERNATIVE_TO = [
    "Gmail",
    "WhatsApp",
    "Google Drive",
    "Dropbox",
    "Shopify",
    "Canva",
    "Zoom",
    "Slack",
    "Mailchimp",
    "Google Analytics",
    "Microsoft Teams",
    "Outlook",
    "Trello",
    "Doodle",
    "Wix",
]


def journey_questions() -> list[str]:
    """Distinct merchant questions (the retrieval evaluation set), so no turn repeats another."""
    entries: list[dict[str, object]] = []
    for split in ("train.yml", "test.yml"):
        entries += yaml.safe_load((ROOT / "knowledge_base/eval" / split).read_text("utf-8"))
    return [str(entry["text"]) for entry in entries]


def offers(shown, prefix: str) -> bool:  # type: ignore[no-untyped-def]
    return any(b.get("callback_data", "").startswith(prefix) for b in shown.buttons)


class SimulatedMerchant:
    """One merchant going through a journey, one turn after the other, like a person would.

    Each turn waits for the bot's answer before the next one (a closed loop) and records the
    latency from pushing the update to the first change in the chat (a new message, or the
    pressed message edited: a press whose next step replaces it), by kind of turn: free text
    (intent model + search), command, or button. What the turn waits for is named by what
    the next step needs (a question's buttons, the pressed message changed), never by a
    count of messages: a free-text question may get one, two or three.
    """

    def __init__(self, api: FakeBotAPI, chat: int, rng: random.Random, think: float) -> None:
        self.api, self.chat, self.rng, self.think = api, chat, rng, think
        self.latencies: list[tuple[str, float]] = []

    def _turn(self, kind: str, push, until):  # type: ignore[no-untyped-def]
        """Push, wait until `until(view)` holds; returns the chat's view."""
        if self.think:
            time.sleep(self.rng.uniform(0.5, 1.5) * self.think)
        before = self.api.changes(self.chat)
        pushed = time.monotonic()
        push()
        shown = self.api.wait_view(
            self.chat, lambda view: self.api.changes(self.chat) > before and until(view), 600
        )
        self.latencies.append((kind, (self.api.activity(self.chat)[before].at - pushed) * 1000))
        return shown

    def say(self, text: str, offering: str = ""):  # type: ignore[no-untyped-def]
        """Send `text`; wait for a message offering buttons `offering` (or any change);
        returns the last message."""
        kind = "command" if text.startswith("/") else "text"
        until = (lambda view: bool(view) and offers(view[-1], offering)) if offering else bool
        return self._turn(kind, lambda: self.api.push_text(self.chat, text), until)[-1]

    def press(self, sent, label: str | None = None):  # type: ignore[no-untyped-def]
        """Press a button of `sent`; wait for that message to change (edited into the next
        step, or its keyboard removed before the reply); returns it as it is now."""
        button = sent.button(label) if label else self.rng.choice(sent.buttons)
        data = button["callback_data"]

        def changed(view) -> bool:  # type: ignore[no-untyped-def]
            now = next((s for s in view if s.message_id == sent.message_id), None)
            return now is not None and (now.text, now.buttons) != (sent.text, sent.buttons)

        view = self._turn(
            "button", lambda: self.api.push_callback(self.chat, data, sent.message_id), changed
        )
        return next(s for s in view if s.message_id == sent.message_id)

    def journey(self, question: str, tool: str) -> None:
        last = self.say("/start", offering="pf:t:")  # welcome + first profile question
        last = self.press(last)  # a trade, or "skip"
        if last.buttons:
            self.press(last)  # already selling online?
        answer = self.say(question)
        if any("👍" in b["text"] for b in answer.buttons):
            self.press(answer, "👍")
        else:  # unsure: the bot asked back with topics; pick one (not "talk to a person")
            topics = [b for b in answer.buttons if not b["callback_data"].startswith("hf:")]
            if topics:
                self.press(answer, self.rng.choice(topics)["text"])
        last = self.say("/diagnostic", offering="dg:a:")  # introduction + question 1
        while offers(last, "dg:a:"):
            last = self.press(last)  # up to the result and the plan
        last = self.press(self.say("/checklists", offering="ck:m:"))  # open one
        last = self.press(last, "Commencer")
        for _ in range(3):
            if not any("Fait" in b["text"] for b in last.buttons):
                break
            last = self.press(last, "Fait")
        self.say("/progression")
        self.say(f"une alternative a {tool}")


def run_journeys(api: FakeBotAPI, chats: list[int], think: float, seed: int) -> dict[str, object]:
    """Every chat runs one whole journey at the same time; `think` seconds between turns."""
    rng = random.Random(seed)
    questions = journey_questions()
    rng.shuffle(questions)
    merchants = [SimulatedMerchant(api, chat, random.Random(seed + chat), think) for chat in chats]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            merchants[index].journey(
                questions[index % len(questions)], ALTERNATIVE_TO[index % len(ALTERNATIVE_TO)]
            )
        except BaseException as error:  # reported below, the other merchants go on
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(chats))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = time.monotonic()
    if errors:
        raise RuntimeError(f"{len(errors)} journeys failed, first: {errors[0]!r}")
    settled = {chat: api.changes(chat) for chat in chats}
    time.sleep(2.0)  # anything answered twice shows up now: a change after the last turn
    by_kind: dict[str, object] = {}
    for kind in ("text", "command", "button"):
        values = np.asarray([ms for m in merchants for k, ms in m.latencies if k == kind])
        by_kind[kind] = {
            "turns": len(values),
            "latency_p50_ms": round(float(np.percentile(values, 50)), 1),
            "latency_p95_ms": round(float(np.percentile(values, 95)), 1),
        }
    everything = np.asarray([ms for m in merchants for _, ms in m.latencies])
    turns = len(everything)
    return {
        "merchants": len(chats),
        "think_seconds": think,
        "turns": turns,
        "seconds": round(finished - started, 2),
        "turns_per_second": round(turns / (finished - started), 1),
        "latency_p50_ms": round(float(np.percentile(everything, 50)), 1),
        "latency_p95_ms": round(float(np.percentile(everything, 95)), 1),
        "by_kind": by_kind,
        "lost": 0,  # every turn above got its answer, or the run would have failed
        "answered_twice": sum(api.changes(chat) - settled[chat] for chat in chats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--merchants", type=int, default=100)
    parser.add_argument("--turns", type=int, default=10, help="per merchant, per phase")
    parser.add_argument("--rate", type=float, default=50.0, help="turns/s of the paced phase")
    parser.add_argument(
        "--journeys", type=int, default=200, help="merchants running whole journeys at once"
    )
    parser.add_argument(
        "--think", type=float, default=4.0, help="seconds between a merchant's turns (paced)"
    )
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
        journey_chats = [200_000 + i for i in range(args.journeys)]
        results["journeys_paced"] = run_journeys(api, journey_chats, args.think, seed=3)
        print("journeys, paced:", results["journeys_paced"], flush=True)
        journey_chats = [300_000 + i for i in range(args.journeys)]
        results["journeys_burst"] = run_journeys(api, journey_chats, 0.0, seed=4)
        print("journeys, all at once:", results["journeys_burst"], flush=True)
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
