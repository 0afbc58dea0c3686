"""CPU time of a button press: Comptoir against a bare python-telegram-bot handler.

    .venv/bin/python benchmarks/press_bench.py [--rounds 5] [--merchants 2] [--data-dir DIR]
        [--baseline CHECKOUT] [--database-url URL]

Both bots run as real processes polling the same Bot API server on loopback
(tests/support/fake_bot_api), in the same run: `comptoir run` (SQLite, every press stored,
its replies marked delivered) and an Application with one CallbackQueryHandler that answers
the query and edits the pressed message (the least any bot does for a press). Merchants
answer the whole diagnostic by presses, one press at a time (each answer edits the question
in place); the bare bot gets as many presses, in alternating rounds. A bot's CPU time (user +
system, every thread, from /proc) over a round's presses, divided by their number, is its
CPU time per press (median round); the goal is Comptoir ≤ 1.5× the bare handler. Also
printed: Bot API calls per press, wall latency from pushing the press to the edit, and each
bot's CPU split into its main thread (the event loop: HTTP, decoding, dispatch) and its other
threads (Comptoir's turns run in worker threads).

`--baseline CHECKOUT` runs a third bot, `comptoir run` from another copy of the code (the
code before a change, e.g. `git archive HEAD | tar -x -C DIR`), in the same rounds: before
and after measured side by side, on the same machine load. `--database-url` runs the
Comptoir bots on that database (PostgreSQL) instead of a SQLite file; each bot then needs
its own database: the baseline's URL gets the suffix `_baseline`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_model, percentiles  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.services import build_services  # noqa: E402
from tests.support.fake_bot_api import FakeBotAPI, Sent, start_comptoir  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
ECHO_OPTIONS = 4


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (utime, stime of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def thread_cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time of a process's main thread and of all its other threads (the turns' worker
    threads, for Comptoir), from /proc/<pid>/task/*/stat."""
    main = others = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        seconds = (int(fields[11]) + int(fields[12])) / TICKS
        if task.name == str(pid):
            main += seconds
        else:
            others += seconds
    return main, others


def echo_bot() -> None:
    """The bare handler, run as its own process (`--echo-bot`): answer the press, edit the
    message with a keyboard like a diagnostic question's."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.constants import ParseMode
    from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton(f"Option {i}", callback_data=f"e:{i}")] for i in range(ECHO_OPTIONS)]
    )

    async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_chat is not None:
            await context.bot.send_message(
                update.effective_chat.id,
                "<b>Question 0</b>",
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
            )

    async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or context.chat_data is None:
            return
        await query.answer()
        presses = context.chat_data["presses"] = context.chat_data.get("presses", 0) + 1
        await query.edit_message_text(
            f"<i>✓ {query.data}</i>\n\n<b>Question {presses}</b>",
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard,
        )

    application = (
        Application.builder()
        .token(os.environ["COMPTOIR_TELEGRAM_TOKEN"])
        .base_url(os.environ["COMPTOIR_TELEGRAM_BASE_URL"])
        .build()
    )
    application.add_handler(CommandHandler("start", on_start))
    application.add_handler(CallbackQueryHandler(on_press))
    application.run_polling(allowed_updates=Update.ALL_TYPES, poll_interval=0.0, timeout=10)


def start_echo_bot(api: FakeBotAPI) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "COMPTOIR_TELEGRAM_TOKEN": api.token,
        "COMPTOIR_TELEGRAM_BASE_URL": api.base_url,
    }
    return subprocess.Popen(
        [sys.executable, __file__, "--echo-bot"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def press_through(
    api: FakeBotAPI,
    pid: int,
    chats: list[int],
    presses: int,
    choose: Callable[[Sent, int], str],
    settled: Callable[[], bool],
    changes_per_press: int = 1,
) -> dict[str, float]:
    """`presses` presses per chat on the chat's last message, one at a time, each waiting
    for its changes in the chat (1: the edit); CPU time of process `pid` over them all
    (until `settled`)."""
    calls_before = len(api.calls)
    latencies: list[float] = []
    cpu_before = cpu_seconds(pid)
    threads_before = thread_cpu_seconds(pid)
    for n in range(presses):
        for chat in chats:
            shown = api.view(chat)[-1]
            changes = api.changes(chat)
            pushed = time.monotonic()
            api.push_callback(chat, choose(shown, n), shown.message_id)
            api.wait_changes(chat, changes + changes_per_press, timeout=60)
            latencies.append((time.monotonic() - pushed) * 1000)
    api.wait_for(settled, timeout=60)
    cpu = cpu_seconds(pid) - cpu_before
    main, others = (a - b for a, b in zip(thread_cpu_seconds(pid), threads_before, strict=True))
    count = presses * len(chats)
    calls = [m for m, _ in api.calls[calls_before:] if m != "getUpdates"]
    return {
        "presses": count,
        "cpu_ms_per_press": round(cpu * 1000 / count, 2),
        # The event loop (HTTP, update decoding, dispatch) against the other threads.
        "main_thread_ms_per_press": round(main * 1000 / count, 2),
        "other_threads_ms_per_press": round(others * 1000 / count, 2),
        "bot_api_calls_per_press": round(len(calls) / count, 2),
        "latency": percentiles(latencies),  # type: ignore[dict-item]
    }


def undelivered(db_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text("SELECT count(*) FROM messages WHERE direction = 'out' AND NOT delivered")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def diagnostic_answer(shown: Sent, n: int) -> str:
    buttons = [b for b in shown.buttons if b.get("callback_data", "").startswith("dg:a:")]
    if not buttons:
        raise RuntimeError(f"no diagnostic question on screen: {shown.text[:80]!r}")
    return buttons[n % len(buttons)]["callback_data"]


@dataclass
class ComptoirBot:
    """One `comptoir run` under measure: its Bot API server, process, database, chats."""

    api: FakeBotAPI
    process: subprocess.Popen[bytes]
    db_url: str
    chats: list[int]


def start_comptoir_bot(
    api: FakeBotAPI, data_dir: Path, db_url: str, work: Path, chats: list[int], code: Path | None
) -> ComptoirBot:
    """`code`: another checkout to run instead of this one (the baseline)."""
    extra = {"PYTHONPATH": str(code)} if code is not None else {}
    process = start_comptoir(
        api,
        data_dir,
        db_url,
        cwd=work,
        COMPTOIR_LOG_LEVEL="WARNING",
        COMPTOIR_TELEGRAM_MAX_RATE="0",  # no rate limiter: the bare bot has none
        **extra,
    )
    return ComptoirBot(api, process, db_url, chats)


def run(
    apis: dict[str, FakeBotAPI],
    data_dir: Path,
    work: Path,
    rounds: int,
    merchants: int,
    questions: int,
    baseline: Path | None,
    database_url: str | None,
) -> dict[str, object]:
    """All bots up at once, each on its own loopback server; rounds alternate between them
    (the machine's other load falls on all alike) and the median round is kept."""
    count = (rounds + 1) * merchants  # the first round warms up
    bots = {
        "comptoir": start_comptoir_bot(
            apis["comptoir"],
            data_dir,
            database_url or f"sqlite:///{work / 'press.sqlite3'}",
            work,
            [700_000 + i for i in range(count)],
            None,
        )
    }
    if baseline is not None:
        bots["baseline"] = start_comptoir_bot(
            apis["baseline"],
            data_dir,
            f"{database_url}_baseline" if database_url else f"sqlite:///{work / 'before.sqlite3'}",
            work,
            [600_000 + i for i in range(count)],
            baseline,
        )
    echo = start_echo_bot(apis["bare_handler"])
    try:
        echo_chats = [800_000 + i for i in range(count)]
        for bot in bots.values():
            for chat in bot.chats:  # each merchant at question 1
                bot.api.push_text(chat, "/diagnostic")
                bot.api.wait_messages(chat, 2, timeout=180)
        for chat in echo_chats:
            apis["bare_handler"].push_text(chat, "/start")
            apis["bare_handler"].wait_messages(chat, 1, timeout=60)
        pick = lambda shown, n: shown.buttons[n % len(shown.buttons)]["callback_data"]  # noqa: E731
        measured: dict[str, list[dict[str, object]]] = {
            name: [] for name in [*bots, "bare_handler"]
        }
        for r in range(rounds + 1):
            chats = slice(r * merchants, (r + 1) * merchants)
            # Every press but the last of a diagnostic edits a question into the next one;
            # the last one edits it into the result. The order of the bots turns each round.
            order = list(bots.items())
            for name, bot in order[r % len(order) :] + order[: r % len(order)]:
                row = press_through(
                    bot.api,
                    bot.process.pid,
                    bot.chats[chats],
                    questions,
                    diagnostic_answer,
                    lambda bot=bot: undelivered(bot.db_url) == 0,
                )
                if r:
                    measured[name].append(row)
            bare = press_through(
                apis["bare_handler"], echo.pid, echo_chats[chats], questions, pick, lambda: True
            )
            if r:
                measured["bare_handler"].append(bare)
        return {name: median_round(rows) for name, rows in measured.items()}
    finally:
        for process in [*(bot.process for bot in bots.values()), echo]:
            process.terminate()
            process.wait(timeout=30)


def median_round(rows: list[dict[str, object]]) -> dict[str, object]:
    ordered = sorted(rows, key=lambda row: float(row["cpu_ms_per_press"]))  # type: ignore[arg-type]
    middle = ordered[len(ordered) // 2]
    return {
        **middle,
        "cpu_ms_per_press_rounds": [row["cpu_ms_per_press"] for row in rows],
        "main_thread_ms_per_press_rounds": [row["main_thread_ms_per_press"] for row in rows],
        "other_threads_ms_per_press_rounds": [row["other_threads_ms_per_press"] for row in rows],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--merchants", type=int, default=2, help="per round")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="a data folder with the model and the index"
    )
    parser.add_argument(
        "--baseline", type=Path, default=None, help="another checkout, measured in the same run"
    )
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL for the Comptoir bots (default SQLite)"
    )
    parser.add_argument("--echo-bot", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "press.json")
    args = parser.parse_args()
    if args.echo_bot:
        echo_bot()
        return
    work = Path(tempfile.mkdtemp(prefix="comptoir-press-bench-"))
    data_dir = args.data_dir or work / "data"
    print("preparing the model and the index (once)...", flush=True)
    diagnostic = build_services(Settings(data_dir=data_dir)).kb.diagnostic
    assert diagnostic is not None, "the shipped content has a diagnostic"
    names = ["comptoir", "bare_handler"] + (["baseline"] if args.baseline else [])
    apis = {name: FakeBotAPI().start() for name in names}
    load_before = os.getloadavg()
    try:
        measured = run(
            apis,
            data_dir,
            work,
            args.rounds,
            args.merchants,
            len(diagnostic.questions),
            args.baseline,
            args.database_url,
        )
    finally:
        for api in apis.values():
            api.stop()
    bare = float(measured["bare_handler"]["cpu_ms_per_press"])  # type: ignore[index, arg-type]
    results: dict[str, object] = {
        "cpu": cpu_model(),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "database": "postgresql" if args.database_url else "sqlite",
        **measured,
        "cpu_ratio": round(float(measured["comptoir"]["cpu_ms_per_press"]) / bare, 2),  # type: ignore[index, arg-type]
    }
    if args.baseline:
        results["baseline_cpu_ratio"] = round(
            float(measured["baseline"]["cpu_ms_per_press"]) / bare,  # type: ignore[index, arg-type]
            2,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
