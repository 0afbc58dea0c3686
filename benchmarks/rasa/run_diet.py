"""Rasa 3.6 DIET on MASSIVE French: train with `rasa train nlu`, then parse the test set.

    nice -n 19 benchmarks/rasa/.venv310/bin/python benchmarks/rasa/run_diet.py

Run with the Python 3.10 venv made by setup.sh. Steps:
1. to_rasa.py writes work/{train,test}/nlu.yml (work/ is git-ignored);
2. `rasa train nlu` runs in a child process under `nice -n 19` (wall time, CPU time,
   peak RSS from wait4; time spent stopped by SIGSTOP is measured by polling
   /proc/<pid>/stat and reported, not subtracted);
3. this process loads the model with `rasa.core.agent.Agent.load` and parses every line
   of test.jsonl one at a time (`await agent.parse_message(text)`), after a 20-message
   warm-up as in benchmarks/nlu_bench.py.
Writes benchmarks/results/rasa_diet.json and prints it.

Options: --skip-train reuses work/models/massive_fr_diet.tar.gz; --epochs N and
--limit-test N are for smoke tests (they change what is measured: use --out elsewhere).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from to_rasa import DEFAULT_DATA, DEFAULT_WORK, convert, load_jsonl, neutralise  # noqa: E402

MODEL_NAME = "massive_fr_diet"
WARMUP = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")

# No telemetry (no network besides PyPI), no TF chatter, and no Rasa training cache:
# a cache hit would make a re-run "train" in seconds.
ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "RASA_MAX_CACHE_SIZE": "0",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
}


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def peak_rss_self_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pct(q: float) -> float:  # linear interpolation, as numpy's default
        pos = (len(ordered) - 1) * q
        low = int(pos)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)

    return {
        "p50_ms": round(pct(0.50), 2),
        "p95_ms": round(pct(0.95), 2),
        "max_ms": round(ordered[-1], 2),
        "mean_ms": round(sum(ordered) / len(ordered), 2),
    }


def scores(truth: list[str], predicted: list[str | None]) -> dict[str, object]:
    """Accuracy and macro-F1 over the intents of the test set (as nlu/evaluation.py)."""
    gold = Counter(truth)
    pred = Counter(p for p in predicted if p is not None)
    hits = Counter(t for t, p in zip(truth, predicted) if t == p)
    per_intent = {}
    for label in sorted(gold):
        tp = hits[label]
        precision = tp / pred[label] if pred[label] else 0.0
        recall = tp / gold[label]
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        per_intent[label] = round(f1, 4)
    return {
        "accuracy": round(sum(hits.values()) / len(truth), 4),
        "macro_f1": round(sum(per_intent.values()) / len(per_intent), 4),
        "errors": len(truth) - sum(hits.values()),
        "predicted_outside_test_intents": sum(1 for p in predicted if p not in gold),
        "f1_per_intent": per_intent,
    }


class ProcWatcher(threading.Thread):
    """Polls /proc/<pid>: time spent stopped (state T), peak VmHWM, own scheduling gaps."""

    def __init__(self, pid: int, period: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.stopped_s = 0.0  # child seen in state T (SIGSTOP) * poll interval
        self.watcher_gap_s = 0.0  # extra delay between polls: this process itself paused
        self.hwm_kb = 0
        self.last_cpu_s = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        last = time.monotonic()
        while not self.done.wait(self.period):
            now = time.monotonic()
            interval, last = now - last, now
            if interval > self.period + 2.0:
                self.watcher_gap_s += interval - self.period
            try:
                with open(f"/proc/{self.pid}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{self.pid}/status") as handle:
                    for line in handle:
                        if line.startswith("VmHWM:"):
                            self.hwm_kb = max(self.hwm_kb, int(line.split()[1]))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                return
            if fields[0] in ("T", "t"):
                self.stopped_s += min(interval, self.period + 2.0)
            self.last_cpu_s = (int(fields[11]) + int(fields[12])) / CLK_TCK


def train(args: argparse.Namespace, train_yml: Path, models: Path) -> dict[str, object]:
    config = args.config
    (args.work / "config_override.yml").unlink(missing_ok=True)
    text = config.read_text(encoding="utf-8")
    if args.epochs is not None:  # smoke test only
        text = text.replace("epochs: 40", f"epochs: {args.epochs}")
    if args.random_seed is not None:
        # Without it DIET seeds itself with int(time.time()): two trainings started in the
        # same second are the same training.
        text = text.replace(
            "    constrain_similarities: true\n",
            f"    constrain_similarities: true\n    random_seed: {args.random_seed}\n",
        )
    if args.epochs is not None or args.random_seed is not None:
        config = args.work / "config_override.yml"
        config.write_text(text, encoding="utf-8")
    shutil.rmtree(models, ignore_errors=True)
    models.mkdir(parents=True)
    rasa_bin = Path(sys.executable).parent / "rasa"
    command = [
        "nice",
        "-n",
        str(args.nice),
        str(rasa_bin),
        "train",
        "nlu",
        "--config",
        str(config),
        "--nlu",
        str(train_yml),
        "--out",
        str(models),
        "--fixed-model-name",
        MODEL_NAME,
    ]
    log_path = args.work / "train.log"
    print("training:", " ".join(command), f"(log: {log_path})", flush=True)
    env = {**os.environ, **ENV}
    with log_path.open("w", encoding="utf-8") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=args.work, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        watcher = ProcWatcher(process.pid)
        watcher.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        watcher.done.set()
        watcher.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"rasa train nlu failed ({process.returncode}); see {log_path}")
    model = models / f"{MODEL_NAME}.tar.gz"
    if not model.exists():
        sys.exit(f"no model at {model}; see {log_path}")
    return {
        "command": " ".join(command[3:]).replace(str(ROOT) + "/", ""),
        "nice": args.nice,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "cpu_user_seconds": round(usage.ru_utime, 1),
        "cpu_system_seconds": round(usage.ru_stime, 1),
        "stopped_seconds_observed": round(watcher.stopped_s, 1),
        "wall_minus_stopped_seconds": round(wall - watcher.stopped_s, 1),
        "runner_paused_seconds_observed": round(watcher.watcher_gap_s, 1),
        "peak_rss_mb": round(max(usage.ru_maxrss, watcher.hwm_kb) / 1024, 1),
        "model_mb": round(model.stat().st_size / 2**20, 2),
        "epochs": args.epochs if args.epochs is not None else 40,
        "random_seed": args.random_seed,
    }


async def parse_all(agent, texts: list[str]) -> tuple[list[dict], list[float], list[float]]:
    results, wall_ms, cpu_ms = [], [], []
    for text in texts:
        t0, c0 = time.perf_counter(), time.process_time()
        result = await agent.parse_message(text)
        c1, t1 = time.process_time(), time.perf_counter()
        results.append(result)
        wall_ms.append((t1 - t0) * 1000)
        cpu_ms.append((c1 - c0) * 1000)
    return results, wall_ms, cpu_ms


def evaluate(args: argparse.Namespace, model: Path) -> dict[str, object]:
    rows = load_jsonl(args.data / "test.jsonl")
    if args.limit_test:
        rows = rows[: args.limit_test]
    texts = [neutralise(r["text"]) for r in rows]
    truth = [r["intent"] for r in rows]
    rss_before = rss_mb()
    started = time.perf_counter()
    from rasa.core.agent import Agent

    import_s = time.perf_counter() - started
    rss_after_import = rss_mb()
    started = time.perf_counter()
    agent = Agent.load(str(model))
    load_s = time.perf_counter() - started
    if not agent.is_ready():
        sys.exit(f"model {model} did not load")
    rss_after_load = rss_mb()

    async def run() -> tuple[float, list, list[float], list[float]]:
        t0 = time.perf_counter()
        await agent.parse_message(texts[0])
        first_ms = (time.perf_counter() - t0) * 1000
        for text in texts[1:WARMUP]:
            await agent.parse_message(text)
        return (first_ms, *await parse_all(agent, texts))

    started = time.perf_counter()
    first_ms, results, wall_ms, cpu_ms = asyncio.run(run())
    parse_total_s = time.perf_counter() - started
    predicted = [(r.get("intent") or {}).get("name") for r in results]
    report = scores(truth, predicted)
    with (args.work / "predictions.jsonl").open("w", encoding="utf-8") as handle:
        for row, result in zip(rows, results):
            intent = result.get("intent") or {}
            handle.write(
                json.dumps(
                    {
                        "text": row["text"],
                        "intent": row["intent"],
                        "predicted": intent.get("name"),
                        "confidence": round(float(intent.get("confidence") or 0), 4),
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    slow = sum(1 for w in wall_ms if w > 1000)
    return {
        **{
            k: report[k]
            for k in ("accuracy", "macro_f1", "errors", "predicted_outside_test_intents")
        },
        "import_rasa_seconds": round(import_s, 2),
        "model_load_seconds": round(load_s, 2),
        "first_parse_ms": round(first_ms, 1),
        "warmup_messages": WARMUP,
        "parse_latency_wall": percentiles(wall_ms),
        "parse_latency_cpu": percentiles(cpu_ms),
        "parses_over_1s": slow,
        "parse_phase_seconds": round(parse_total_s, 1),
        "rss_mb": {
            "before_import": rss_before,
            "after_import": rss_after_import,
            "after_load": rss_after_load,
            "after_parse": rss_mb(),
        },
        "peak_rss_mb": peak_rss_self_mb(),
        "nice": os.nice(0),
        "f1_per_intent": report["f1_per_intent"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--config", type=Path, default=HERE / "config.yml")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "rasa_diet.json"
    )
    parser.add_argument("--nice", type=int, default=19)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--epochs", type=int, help="override (smoke tests only)")
    parser.add_argument(
        "--random-seed", type=int, help="DIET's random_seed (default: the clock's second)"
    )
    parser.add_argument("--limit-test", type=int, help="parse only N test lines (smoke tests)")
    args = parser.parse_args()
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    # Rasa writes ~/.config/rasa/global.yml (telemetry id, even when disabled) and
    # Keras ~/.keras/keras.json: keep them in the work folder, not in the real $HOME.
    ENV["HOME"] = str(args.work / "home")
    (args.work / "home").mkdir(exist_ok=True)
    os.environ.update(ENV)

    data_stats = convert(args.data, args.work)
    models = args.work / "models"
    results: dict[str, object] = {
        "system": "rasa",
        "rasa_version": metadata.version("rasa"),
        "tensorflow_version": metadata.version("tensorflow"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "pipeline": "WhitespaceTokenizer, RegexFeaturizer, LexicalSyntacticFeaturizer, "
        "CountVectorsFeaturizer, CountVectorsFeaturizer(char_wb 1-4), "
        "DIETClassifier(epochs 40, constrain_similarities), no fallback",
        "dataset": "massive_fr",
        "train_examples": data_stats["train"]["examples"],
        "train_examples_after_rasa_dedup": data_stats["train"]["examples"]
        - data_stats["train"]["duplicate_examples"],
        "train_texts_with_several_intents": data_stats["train"]["texts_with_several_intents"],
        "intents": data_stats["train"]["intents"],
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "loadavg_at_start": os.getloadavg(),
    }
    if args.skip_train:
        results["training"] = None
    else:
        results["training"] = train(args, args.work / "train" / "nlu.yml", models)
        print("training:", json.dumps(results["training"]), flush=True)
    evaluation = evaluate(args, models / f"{MODEL_NAME}.tar.gz")
    results["test_examples"] = args.limit_test or data_stats["test"]["examples"]
    results["accuracy"] = evaluation.pop("accuracy")
    results["macro_f1"] = evaluation.pop("macro_f1")
    results["parsing"] = evaluation
    results["loadavg_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
