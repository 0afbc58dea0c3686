"""The query-vector cache on a realistic mix of chat messages: hit rate and CPU per turn.

    .venv/bin/python benchmarks/vector_cache_bench.py [--data-dir DIR] [--short-per-question 0.5]

Replays the 219 labelled questions of knowledge_base/eval/test.yml (all distinct: each one
misses) mixed with the short texts merchants repeat all day (greetings, thanks, yes/no, and
the labels of the bot's buttons typed instead of pressed), through the whole assistant, once
with the cache off (COMPTOIR_VECTOR_CACHE_SIZE=0) and once on (the default 1024). Every other
benchmark measures its headline figures with the cache off or on distinct texts.

Default proportion, 0.5 short text per question (a third of text turns): a Telegram chat
opens with a greeting and closes with thanks or an "ok" for every one or two questions; the
short texts are drawn with the weights below (greetings and thanks first), in the spellings
phones produce (capital first letter or not, with or without "!").
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_model  # noqa: E402
from bot.assistant import Assistant  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.context import Services  # noqa: E402
from bot.messages import Incoming  # noqa: E402
from bot.services import build_services  # noqa: E402
from bot.store.database import Database  # noqa: E402
from nlu.intents import TOPIC_LABELS  # noqa: E402
from nlu.query_cache import normalise  # noqa: E402

# (text, weight): how often merchants type each, relative to the others.
SHORT_TEXTS: list[tuple[str, float]] = [
    ("Bonjour", 10),
    ("bonjour", 6),
    ("Bonjour !", 3),
    ("Merci", 8),
    ("merci", 5),
    ("Merci beaucoup", 5),
    ("merci beaucoup !", 2),
    ("Merci !", 3),
    ("Ok", 5),
    ("ok merci", 3),
    ("OK", 2),
    ("Oui", 4),
    ("Non", 3),
    ("D'accord", 2),
    ("Super merci", 1),
    ("Au revoir", 1),
    ("Parler à un conseiller", 1),  # clarify and hand-off buttons, typed
    ("Oui, un conseiller", 0.5),
    ("Non, je continue", 0.5),
] + [(label, 0.5) for label in TOPIC_LABELS.values()]  # the clarify topic buttons, typed


def message_mix(short_per_question: float, seed: int) -> tuple[list[str], int, list[str]]:
    """The eval questions in order, short texts inserted at random places."""
    questions = [
        str(q["text"])
        for q in yaml.safe_load((ROOT / "knowledge_base/eval/test.yml").read_text("utf-8"))
    ]
    rng = random.Random(seed)
    n_short = round(len(questions) * short_per_question)
    texts, weights = zip(*SHORT_TEXTS, strict=True)
    shorts = rng.choices(texts, weights=weights, k=n_short)
    mix = list(questions)
    for text in shorts:
        mix.insert(rng.randrange(len(mix) + 1), text)
    return mix, len(questions), shorts


def replay(runs: dict[str, Services], mix: list[str]) -> dict[str, dict[str, object]]:
    """Every message as its own merchant's text turn, through each configuration in turn
    (alternating which goes first), so both see the same machine load; CPU of whole turns."""
    assistants = {name: Assistant(services) for name, services in runs.items()}
    short = {text for text, _ in SHORT_TEXTS}
    cpu = {name: {"question": 0.0, "short": 0.0} for name in runs}
    count = {"question": 0, "short": 0}
    for i, text in enumerate(mix):
        kind = "short" if text in short else "question"
        count[kind] += 1
        order = list(assistants) if i % 2 == 0 else list(reversed(assistants))
        for name in order:
            started = time.process_time()
            outcome = assistants[name].process(Incoming("bench", f"{name}-{i}", "text", text))
            cpu[name][kind] += time.process_time() - started
            assistants[name].mark_delivered(outcome.reply_ids)
    results: dict[str, dict[str, object]] = {}
    for name, services in runs.items():
        stats = services.query_vectors.stats()
        results[name] = {
            "capacity": stats.capacity,
            "hits": stats.hits,
            "misses": stats.misses,
            "hit_rate": round(stats.hit_rate, 3),
            "cpu_ms_per_turn": round(1000 * sum(cpu[name].values()) / len(mix), 2),
            "cpu_ms_per_question_turn": round(
                1000 * cpu[name]["question"] / max(count["question"], 1), 2
            ),
            "cpu_ms_per_short_turn": round(1000 * cpu[name]["short"] / max(count["short"], 1), 2),
        }
    return results


def with_cache(services: Services, size: int, database_url: str) -> Services:
    """The same loaded models and index, a fresh database and a fresh cache of `size`."""
    settings = services.settings.with_overrides(vector_cache_size=size, database_url=database_url)
    database = Database(database_url)
    database.migrate()
    return Services(
        settings, database, services.encoder, services.nlu, services.kb, services.search
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="a data folder with the model and the index"
    )
    parser.add_argument("--short-per-question", type=float, default=0.5)
    parser.add_argument("--size", type=int, default=1024, help="cache entries when on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "vector_cache.json"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="comptoir-cache-bench-"))
    settings = Settings(
        data_dir=args.data_dir or work / "data", database_url=f"sqlite:///{work / 'x.sqlite3'}"
    )
    print("loading the model and the index...", file=sys.stderr, flush=True)
    loaded = build_services(settings, log=lambda m: print(m, file=sys.stderr, flush=True))
    mix, n_questions, shorts = message_mix(args.short_per_question, args.seed)
    n_short = len(shorts)
    why = (
        f"{n_questions} distinct questions (knowledge_base/eval/test.yml) + {n_short} short "
        f"texts ({args.short_per_question} per question, {n_short / len(mix):.0%} of turns: "
        "a chat opens with a greeting and closes with thanks or ok every one or two questions)"
    )
    print(f"mix: {why}", file=sys.stderr, flush=True)
    warm = with_cache(loaded, 0, f"sqlite:///{work / 'warm.sqlite3'}")
    replay({"warm-up": warm}, mix[:20])
    warm.db.dispose()
    runs = {
        "cache_off": with_cache(loaded, 0, f"sqlite:///{work / 'off.sqlite3'}"),
        "cache_on": with_cache(loaded, args.size, f"sqlite:///{work / 'on.sqlite3'}"),
    }
    results: dict[str, object] = {
        "cpu": cpu_model(),
        "mix": {
            "questions": n_questions,
            "short_texts": n_short,
            "short_per_question": args.short_per_question,
            "distinct_short_keys": len({normalise(text) for text in shorts}),
            "seed": args.seed,
            "why": why,
        },
        **replay(runs, mix),
    }
    for services in runs.values():
        services.db.dispose()
    off, on = results["cache_off"], results["cache_on"]
    results["cpu_saved_per_turn_pct"] = round(
        100 * (1 - on["cpu_ms_per_turn"] / off["cpu_ms_per_turn"]),  # type: ignore[index,operator]
        1,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
