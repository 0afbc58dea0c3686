"""Out-of-fold evaluation of the learned ranker through the assistant, on the train split.

    PYTHONPATH=. .venv/bin/python benchmarks/ranker_oof.py [--objectives pointwise mixed]
        [--recipes shipped indomain] [--sweep mixed] [--memory on off] [--folds 5] [--seed 0]
        [--out benchmarks/results/ranker-oof.json] [--misses /tmp/oof-misses.json]

`comptoir kb eval --queries train.yml` scores the shipped ranker on the questions it was
trained on: its probabilities there are over-confident, and thresholds chosen on them are
chosen on the wrong scale. Here every train question is answered by a ranker that never saw
it: the questions are dealt into k folds (stratified by topic, fixed seed); for each fold a
ranker is trained on the other folds with the production code (`bot.ranking.training_rows`
and `knowledge_base.ranker.train`, as `comptoir kb train-ranker` does, negatives included),
put in service in one Assistant, and `bot.kb_eval.evaluate` (the code of `comptoir kb eval`)
answers the held-out fold. The index and the intent model are built once; each question is
searched once for training. The negatives (greetings, off-topic messages) are dealt into
folds too, so the share of junk a ranker is "sure" of is measured out of fold as well (a
fold's ranker trains on 4/5 of them, where `train_ranker` takes them all).

The merchant questions nothing in the catalogue answers (`answers: []`) are dealt into the
folds as a stratum of their own. `--recipes`: "indomain" trains on them as negatives (as the
greetings are; "indomain4" four times over), "shipped" leaves them out as `train_ranker`
does (issue 10 measured the first two: no gain, not shipped). Either way
each is answered by a ranker that never saw it, and the report counts those answered "sure"
(a direct answer, necessarily off target, rather than the unsure turn), and the ranker's
probability of the best candidate for them and for the answerable questions (`best_p`:
where the unsure turn may say that no item fits).

`--sweep OBJECTIVE` then varies the reply's thresholds (`bot.answers`), one at a time, on
that objective's out-of-fold rankers. Every configuration's aggregate figures, per fold and
per half of the folds (even / odd), go to `--out` after each run. `test.yml` is never read.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_model  # noqa: E402
from bot import answers, kb_eval  # noqa: E402
from bot.assistant import Assistant  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.context import Services  # noqa: E402
from bot.kb_eval import EVAL_DIR, evaluate  # noqa: E402
from bot.ranking import memory_of, negative_queries, training_rows  # noqa: E402
from bot.services import build_services  # noqa: E402
from bot.texts import FR  # noqa: E402
from knowledge_base import memory as memory_module  # noqa: E402
from knowledge_base.content_model import KnowledgeBase  # noqa: E402
from knowledge_base.evaluation import load_queries  # noqa: E402
from knowledge_base.memory import MEMORY_FEATURES, Memory  # noqa: E402
from knowledge_base.ranker import FEATURES, Example, Ranker, remember, train  # noqa: E402
from knowledge_base.search import Hit  # noqa: E402

Query = dict[str, object]
# The reply's thresholds that read the ranker's probability (or, for the FAQ ones, the e5
# match it is weighed against), and the coarse values tried around each shipped one.
GRID: dict[str, tuple[float, ...]] = {
    "SURE_WHEN_INTENT_UNSURE": (0.75, 0.80, 0.90),
    "SURE_WHEN_OUT_OF_SCOPE": (0.90, 0.98),
    "PARAPHRASE_LOGIT_GAP": (1.5, 2.0, 4.0),
    "OVERVIEW_MARGIN": (0.1, 0.3),
    "FAQ_MATCH": (0.90, 0.94),
    "BROAD_FAQ_MATCH": (0.93, 0.97),
    "VERBATIM_FAQ": (0.95, 0.99),
    "ABSTAIN_BELOW": (0.2, 0.3, 0.4, 0.5),
    "RUNNER_UP_LOGIT_GAP": (1.0, 1.5, 4.0),
    "RUNNER_UP_FLOOR": (0.5, 0.85),
    "NAMED_TOOL_LOGIT_GAP": (0.0, 1.0, 3.0, 99.0),  # 99: the card never answers
}
RECIPES = ("shipped", "indomain", "indomain4")
RUNNER_UP = FR["runner_up"]
ABSTAIN_GRID = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
FAR_GRID = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9)


def recipe_rows(
    recipe: str, queries: Sequence[Query], rows: Sequence[list[Example]]
) -> list[list[Example]]:
    """The train questions' rows a recipe learns from: "shipped" drops the unanswerable
    questions' rows (the rule before issue 10), "indomain" keeps them as negatives,
    "indomain4" counts each of them four times (a weight, to see whether more would help)."""
    if recipe == "indomain":
        return list(rows)
    times = 4 if recipe == "indomain4" else 0
    return [r if q.get("answers") else r * times for q, r in zip(queries, rows, strict=True)]


def best_p(
    rankers: Sequence[Ranker],
    queries: Sequence[Query],
    rows: Sequence[list[Example]],
    folds: Sequence[int],
) -> dict[str, object]:
    """The held-out fold's ranker's probability of each question's best candidate, for the
    unanswerable questions and the answerable ones (all, and those whose right answer is in
    that ranker's top 3: the ones a "nothing fits" sentence would wrong), below each of
    FAR_GRID."""
    groups: dict[str, list[float]] = {"unanswerable": [], "answerable": [], "answerable_hit3": []}
    for q, r, fold in zip(queries, rows, folds, strict=True):
        for e in r:
            scores = rankers[fold].scores(e.x)
            p = float(1 / (1 + np.exp(-scores.max())))
            if not q.get("answers"):
                groups["unanswerable"].append(p)
                continue
            groups["answerable"].append(p)
            top3 = np.argsort(-scores, kind="stable")[:3]
            if e.y[top3].any():
                groups["answerable_hit3"].append(p)
    return {
        name: {
            "n": len(ps),
            "median": round(float(np.median(ps)), 4) if ps else None,
            "below": {str(t): sum(p < t for p in ps) for t in FAR_GRID},
        }
        for name, ps in groups.items()
    }


def topic_of(query: Query, kb: KnowledgeBase) -> str:
    """The topic of the query's first known answer (as `scripts/split_eval.py` reads it)."""
    for doc_id in query.get("answers") or []:  # type: ignore[attr-defined]
        for store in (kb.guides, kb.faq, kb.checklists):
            if doc_id in store:
                return str(store[doc_id].topic)
        if doc_id in kb.tools:
            return "find_alternative"
    return "unanswerable"


def assign_folds(strata: Sequence[str], k: int, seed: int) -> list[int]:
    """A fold per item: within each stratum, shuffled (seeded) and dealt in turn, the deal
    running on from one stratum to the next so the folds' sizes differ by one at most."""
    rng = random.Random(seed)
    folds = [0] * len(strata)
    dealt = 0
    for stratum in sorted(set(strata)):
        members = [i for i, s in enumerate(strata) if s == stratum]
        rng.shuffle(members)
        for i in members:
            folds[i] = dealt % k
            dealt += 1
    return folds


def fold_memories(
    queries: Sequence[Query],
    rows: Sequence[list[Example]],
    folds: Sequence[int],
    k: int,
    encoder_id: str,
) -> list[Memory]:
    """For each fold, the memory of questions already answered that `train_ranker` would
    build from the other folds' questions only: the held-out fold is then answered as new
    questions are, never finding itself (or a near-copy of itself) labelled."""
    return [
        memory_of(
            [q for q, fold in zip(queries, folds, strict=True) if fold != f],
            [r for r, fold in zip(rows, folds, strict=True) if fold != f],
            encoder_id,
        )
        for f in range(k)
    ]


def fold_rankers(
    rows: Sequence[list[Example]],
    folds: Sequence[int],
    negatives: Sequence[list[Example]],
    negative_folds: Sequence[int],
    k: int,
    objective: str,
    memories: Sequence[Memory | None] | None = None,
    kept: Sequence[str] = MEMORY_FEATURES,
) -> list[Ranker]:
    """For each fold, the ranker `train_ranker` would train on the other folds' questions
    (then the other folds' negatives, in `train_ranker`'s order); with `memories`, reading
    that fold's memory, each training row blind to itself and its near-copies."""
    rankers = []
    for f in range(k):
        kept_rows = [e for q, fold in zip(rows, folds, strict=True) if fold != f for e in q]
        kept_rows += [
            e for q, fold in zip(negatives, negative_folds, strict=True) if fold != f for e in q
        ]
        memory = memories[f] if memories else None
        rows_f = remember(kept_rows, memory) if memory else kept_rows
        dropped = [n for n in MEMORY_FEATURES if n not in kept]
        ranker = train(without(rows_f, dropped), objective=objective)
        ranker.memory = memory
        rankers.append(ranker)
    return rankers


def memory_variant(spec: str) -> tuple[tuple[str, ...], int]:
    """`--memory` value -> the memory columns a ranker learns from, and the neighbours
    (k): "on" is all of them at the shipped k; "lift+gap@10" keeps two, k = 10."""
    if spec in ("on", "off"):
        return MEMORY_FEATURES, memory_module.NEIGHBOURS
    names, _, k = spec.partition("@")
    kept = tuple(f"memory_{n}" for n in names.split("+"))
    if not set(kept) <= set(MEMORY_FEATURES):
        raise SystemExit(f"--memory {spec}: columns among {MEMORY_FEATURES}")
    return kept, int(k) if k else memory_module.NEIGHBOURS


def without(rows: Sequence[Example], names: Sequence[str]) -> list[Example]:
    """`rows` with the columns `names` at 0: a model trained on them gives them no weight."""
    if not names:
        return list(rows)
    columns = [FEATURES.index(n) for n in names]
    found = []
    for e in rows:
        x = e.x.copy()
        x[:, columns] = 0.0
        found.append(Example(x, e.y, e.states, e.doc_ids, e.vector))
    return found


def held_rows(
    rows: Sequence[list[Example]], folds: Sequence[int], rankers: Sequence[Ranker]
) -> list[list[Example]]:
    """Each question's rows as its fold's ranker reads them at answer time (that ranker's
    memory, nothing excluded: the fold is not in it)."""
    return [
        remember(r, rankers[fold].memory, exclude_above=None) if rankers[fold].memory else list(r)
        for r, fold in zip(rows, folds, strict=True)
    ]


def junk_sure(
    rankers: Sequence[Ranker],
    negatives: Sequence[list[Example]],
    negative_folds: Sequence[int],
    thresholds: Sequence[float],
) -> dict[str, float]:
    """Share of held-out negatives whose best candidate the fold's ranker rates at or above
    each threshold (what "sure" would answer if the intent model were unsure)."""
    best = []
    for q, fold in zip(negatives, negative_folds, strict=True):
        for e in q:
            best.append(float(1 / (1 + np.exp(-rankers[fold].scores(e.x).max()))))
    return {str(t): round(float(np.mean([b >= t for b in best])), 4) for t in thresholds}


@contextmanager
def thresholds(values: dict[str, float]) -> Iterator[None]:
    """`bot.answers`'s thresholds set to `values` for the block, then restored."""
    saved = {name: getattr(answers, name) for name in values}
    for name, value in values.items():
        setattr(answers, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(answers, name, value)


@contextmanager
def doubts() -> Iterator[dict[str, float]]:
    """For the block: each question (by its text) whose confident-intent answer asked
    `answers.doubtful`, with the ranker's probability of its best item (not an FAQ asked
    verbatim, a ranker in service). With ABSTAIN_BELOW off, the figures at any threshold t
    follow exactly: the questions below t get the unsure turn instead (no fact, no direct
    answer), the ranking is the same. The timing floor of `evaluate` is skipped meanwhile
    (one more encoding of every question, which no figure here reads)."""
    seen: dict[str, float] = {}
    asked = {"text": ""}
    ask, doubtful, floor = kb_eval.ask, answers.doubtful, kb_eval._encoding_floor_ms

    def recording_ask(assistant: Assistant, user: str, text: str) -> kb_eval.Answered:
        asked["text"] = text
        return ask(assistant, user, text)

    def recording_doubtful(hits: list[Hit]) -> bool:
        if hits and hits[0].confidence > 0 and not answers.verbatim(hits[0]):
            seen[asked["text"]] = hits[0].confidence
        return doubtful(hits)

    kb_eval.ask, answers.doubtful = recording_ask, recording_doubtful  # type: ignore[assignment]
    kb_eval._encoding_floor_ms = lambda _assistant, _texts: 0.0  # type: ignore[assignment]
    try:
        yield seen
    finally:
        kb_eval.ask, answers.doubtful, kb_eval._encoding_floor_ms = ask, doubtful, floor


@contextmanager
def answered_ids() -> Iterator[dict[str, kb_eval.Answered]]:
    """For the block: what each question (by its text) was answered with (the ranked item
    ids, the reply), so that any subset's figures (the first wave's questions) and the
    misses' details follow from one run."""
    got: dict[str, kb_eval.Answered] = {}
    ask = kb_eval.ask

    def recording_ask(assistant: Assistant, user: str, text: str) -> kb_eval.Answered:
        answered = ask(assistant, user, text)
        got[text] = answered
        return answered

    kb_eval.ask = recording_ask  # type: ignore[assignment]
    try:
        yield got
    finally:
        kb_eval.ask = ask


def first_rank(query: Query, ids: Sequence[str]) -> int | None:
    """The rank of the query's first right answer among `ids` (None: absent)."""
    answers = set(query.get("answers") or [])  # type: ignore[call-overload]
    return next((r for r, doc_id in enumerate(ids) if doc_id in answers), None)


def abstained(
    report: dict[str, object], held: Sequence[Query], seen: dict[str, float], t: float
) -> dict[str, object]:
    """One fold's report as it would read with ABSTAIN_BELOW at `t` (see `doubts`)."""
    below = {text for text, p in seen.items() if p < t}
    missed = {str(m["text"]) for m in report["mention"]["misses"]}  # type: ignore[index]
    lost = [
        {"text": q["text"], "reply": "(unsure turn)"}
        for q in held
        if q.get("must_mention_any") and q["text"] in below and q["text"] not in missed
    ]
    sure = [t_ for t_ in report["unanswerable"]["sure_texts"] if t_ not in below]  # type: ignore[index]
    return {
        **report,
        "mention": {**report["mention"], "misses": [*report["mention"]["misses"], *lost]},  # type: ignore[dict-item]
        "unanswerable": {**report["unanswerable"], "sure": len(sure), "sure_texts": sure},  # type: ignore[dict-item]
    }


def oof_pass(
    services: Services,
    queries: Sequence[Query],
    folds: Sequence[int],
    rankers: Sequence[Ranker],
    tag: str,
) -> dict[str, object]:
    """Each fold answered through the assistant by the ranker that did not see it; with
    ABSTAIN_BELOW off, also the figures each ABSTAIN_GRID value would give (`doubts`)."""
    assistant = Assistant(services)
    per_fold, held_folds, seen_folds = [], [], []
    ranks: dict[str, int | None] = {}
    lengths: list[int] = []
    second = 0  # replies with a neighbouring FAQ entry under the first (`answers.runner_up`)
    second_right = 0  # of them, the second a labelled answer and the first not (a rescue)
    wrong_first: list[dict[str, object]] = []
    details: list[dict[str, object]] = []
    in_service = services.search.ranker
    try:
        for f, ranker in enumerate(rankers):
            services.search.ranker = ranker
            held = [q for q, fold in zip(queries, folds, strict=True) if fold == f]
            with doubts() as seen, answered_ids() as got:
                per_fold.append(evaluate(assistant, held, users=f"{tag}-f{f}"))
            ranks.update({str(q["text"]): first_rank(q, got[str(q["text"])].hits) for q in held})
            wrong_first += [
                {"text": q["text"], "answers": q["answers"], "hits": got[str(q["text"])].hits[:3]}
                for q in held
                if q.get("answers") and ranks[str(q["text"])] != 0
            ]
            details += miss_details(held, got, f)
            lengths += [len(got[str(q["text"])].reply) for q in held]
            with_second = [q for q in held if RUNNER_UP in got[str(q["text"])].reply]
            second += len(with_second)
            second_right += sum(
                bool(q.get("answers")) and ranks[str(q["text"])] == 1 for q in with_second
            )
            held_folds.append(held)
            seen_folds.append(seen)
    finally:
        services.search.ranker = in_service
    halves = {
        "even": aggregate(per_fold[0::2]),
        "odd": aggregate(per_fold[1::2]),
    }
    simulated = {}
    if answers.ABSTAIN_BELOW <= 0:
        for t in ABSTAIN_GRID:
            reports = [
                abstained(r, h, s, t)
                for r, h, s in zip(per_fold, held_folds, seen_folds, strict=True)
            ]
            simulated[str(t)] = {
                **aggregate(reports),
                "halves": {"even": aggregate(reports[0::2]), "odd": aggregate(reports[1::2])},
                "answerable_doubted": sum(
                    1
                    for h, s in zip(held_folds, seen_folds, strict=True)
                    for q in h
                    if q.get("answers") and s.get(str(q["text"]), 1.0) < t
                ),
            }
    return {
        **aggregate(per_fold),
        "halves": halves,
        "abstain_below": simulated,
        "doubted_p": {
            group: sorted(
                s[str(q["text"])]
                for h, s in zip(held_folds, seen_folds, strict=True)
                for q in h
                if bool(q.get("answers")) == answerable and str(q["text"]) in s
            )
            for group, answerable in (("unanswerable", False), ("answerable", True))
        },
        "folds": [aggregate([r]) for r in per_fold],
        "reply_chars_median": sorted(lengths)[len(lengths) // 2] if lengths else 0,
        "runner_ups": second,
        "runner_ups_labelled_right": second_right,
        "first_ranks": ranks,
        "wrong_first": wrong_first,
        "misses": [m for r in per_fold for m in r["misses"]],  # type: ignore[attr-defined]
        "mention_misses": [m for r in per_fold for m in r["mention"]["misses"]],  # type: ignore[index]
        "unanswerable_sure_texts": [t for r in per_fold for t in r["unanswerable"]["sure_texts"]],  # type: ignore[index]
        "mention_miss_details": details,
    }


def miss_details(
    held: Sequence[Query], got: dict[str, kb_eval.Answered], fold: int
) -> list[dict[str, object]]:
    """The labelled questions of one fold whose reply lacks every expected term, with what a
    triage needs (`report["mention"]["misses"]` cuts the reply at 300 characters and drops
    the ranking): the whole reply, the ranked ids, the labelled ids and the first one's rank,
    and whether the turn logged a direct answer."""
    found = []
    for q in held:
        terms = q.get("must_mention_any")
        answered = got[str(q["text"])]
        if not terms or kb_eval.mentions(answered.reply, terms):  # type: ignore[arg-type]
            continue
        found.append(
            {
                "text": q["text"],
                "must_mention_any": terms,
                "answers": q.get("answers") or [],
                "hits": answered.hits,
                "first_rank": first_rank(q, answered.hits),
                "answered": answered.answered,
                "fold": fold,
                "reply": answered.reply,
            }
        )
    return found


def aggregate(reports: Sequence[dict[str, object]]) -> dict[str, object]:
    """Figures over several folds' reports, weighted by their questions (exact: each fold's
    figure is a mean over its own questions)."""
    n = sum(int(r["n"]) for r in reports)  # type: ignore[call-overload]
    figures: dict[str, object] = {"n": n}
    for key in ("top1", "hit@3", "mrr"):
        total = sum(float(r[key]) * int(r["n"]) for r in reports)  # type: ignore[arg-type, call-overload]
        figures[key] = round(total / n, 4) if n else None
    stated = sum(r["mention"]["n"] - len(r["mention"]["misses"]) for r in reports)  # type: ignore[index]
    labelled = sum(r["mention"]["n"] for r in reports)  # type: ignore[index]
    figures["facts"] = f"{stated}/{labelled}"
    figures["fact_rate"] = round(stated / labelled, 4) if labelled else None
    figures["top1_count"] = round(sum(float(r["top1"]) * int(r["n"]) for r in reports))  # type: ignore[arg-type, call-overload]
    unanswerable = sum(r["unanswerable"]["n"] for r in reports)  # type: ignore[index]
    sure = sum(r["unanswerable"]["sure"] for r in reports)  # type: ignore[index]
    figures["unanswerable_sure"] = f"{sure}/{unanswerable}"
    figures["unanswerable_sure_rate"] = round(sure / unanswerable, 4) if unanswerable else None
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objectives", nargs="+", default=["pointwise"])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--sweep", nargs="*", default=[], help="objectives whose thresholds vary")
    parser.add_argument("--grid", nargs="*", default=list(GRID), help="thresholds to sweep")
    parser.add_argument(
        "--combo",
        nargs="*",
        default=[],
        help="extra configurations swept together, e.g. PARAPHRASE_LOGIT_GAP=1.5,FAQ_MATCH=0.9",
    )
    parser.add_argument(
        "--score-only",
        type=Path,
        help="answer only these questions of the split (e.g. those a shipped ranker never saw)",
    )
    parser.add_argument(
        "--memory",
        nargs="+",
        default=["on"],
        help="on (shipped): each fold's ranker reads the other folds' questions"
        " (knowledge_base.memory); off; or the columns kept and the neighbours, e.g."
        " lift+gap@10 (the others stay 0)",
    )
    parser.add_argument(
        "--misses",
        type=Path,
        help="also write each run's mention misses here: the whole reply, the ranked ids,"
        " the labelled ids and the first one's rank, direct answer or not (for a triage)",
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--queries", type=Path, default=EVAL_DIR / "train.yml")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/ranker-oof.json")
    args = parser.parse_args()
    if args.queries.name == "test.yml":
        raise SystemExit("the out-of-fold evaluation is for the train split only")

    queries = load_queries(args.queries)
    negatives = negative_queries()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="comptoir-oof-") as tmp:
        settings = Settings.from_env().with_overrides(
            database_url=f"sqlite:///{Path(tmp) / 'oof.sqlite3'}",
            vector_cache_size=0,
            kb_ranker="off",
        )
        services = build_services(settings, log=lambda m: print(m, file=sys.stderr))
        folds = assign_folds([topic_of(q, services.kb) for q in queries], args.folds, args.seed)
        negative_folds = assign_folds(["negative"] * len(negatives), args.folds, args.seed)
        only = {str(q["text"]) for q in load_queries(args.score_only)} if args.score_only else None
        asked = [q for q in queries if only is None or q["text"] in only]
        asked_folds = [
            f for q, f in zip(queries, folds, strict=True) if only is None or q["text"] in only
        ]
        # The unanswerable questions' rows as negatives (all candidates wrong), for the
        # "indomain" recipes; "shipped" drops them (`recipe_rows`).
        rows = training_rows(
            services, [q if q.get("answers") else {**q, "negative": True} for q in queries]
        )
        negative_rows = training_rows(services, negatives)
        report: dict[str, object] = {
            "cpu": cpu_model(),
            "queries": str(args.queries.relative_to(ROOT)),
            "n_queries": len(queries),
            "n_negatives": len(negatives),
            "folds": args.folds,
            "seed": args.seed,
            "shipped_thresholds": {name: getattr(answers, name) for name in GRID},
            "runs": [],
        }
        runs: list[dict[str, object]] = report["runs"]  # type: ignore[assignment]
        run_misses: list[dict[str, object]] = []
        memories = fold_memories(queries, rows, folds, args.folds, services.encoder.id)
        report["memory_sizes"] = [len(m) for m in memories]

        def record(
            objective: str,
            recipe: str,
            rankers: list[Ranker],
            changed: dict[str, float],
            memory: str = "off",
        ) -> None:
            with thresholds(changed):
                tag = f"{objective}-{len(runs)}"
                figures = oof_pass(services, asked, asked_folds, rankers, tag)
            details = figures.pop("mention_miss_details")
            junk = junk_sure(
                rankers,
                held_rows(negative_rows, negative_folds, rankers),
                negative_folds,
                [answers.SURE_WHEN_INTENT_UNSURE, answers.SURE_WHEN_OUT_OF_SCOPE, 0.75, 0.8, 0.9],
            )
            runs.append(
                {
                    "objective": objective,
                    "recipe": recipe,
                    "memory": memory,
                    "thresholds": changed,
                    "junk_sure": junk,
                    **figures,
                }
            )
            even, odd = figures["halves"]["even"], figures["halves"]["odd"]  # type: ignore[index]
            print(
                f"{objective:9s} {recipe:8s} memory {memory} {changed or 'shipped'}: "
                f"top-1 {figures['top1']} "
                f"hit@3 {figures['hit@3']} MRR {figures['mrr']} facts {figures['facts']} "
                f"unanswerable sure {figures['unanswerable_sure']} "
                f"(even {even['top1']}/{even['facts']}/{even['unanswerable_sure']}, "
                f"odd {odd['top1']}/{odd['facts']}/{odd['unanswerable_sure']}) "
                f"junk sure {junk} median reply {figures['reply_chars_median']} "
                f"runner-ups {figures['runner_ups']} ({figures['runner_ups_labelled_right']} "
                f"labelled right) [{time.time() - started:.0f} s]",
                flush=True,
            )
            for t, sim in figures["abstain_below"].items():  # type: ignore[attr-defined]
                e, o = sim["halves"]["even"], sim["halves"]["odd"]
                print(
                    f"    ABSTAIN_BELOW {t}: top-1 {sim['top1']} facts {sim['facts']} "
                    f"unanswerable sure {sim['unanswerable_sure']} answerable doubted "
                    f"{sim['answerable_doubted']} (even {e['facts']}/{e['unanswerable_sure']}, "
                    f"odd {o['facts']}/{o['unanswerable_sure']})",
                    flush=True,
                )
            args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
            if args.misses:
                run_misses.append(
                    {
                        "objective": objective,
                        "recipe": recipe,
                        "memory": memory,
                        "thresholds": changed,
                        "facts": figures["facts"],
                        "misses": details,
                    }
                )
                args.misses.write_text(
                    json.dumps(
                        {"cpu": report["cpu"], "runs": run_misses}, ensure_ascii=False, indent=1
                    ),
                    encoding="utf-8",
                )

        for objective in args.objectives:
            for recipe in args.recipes:
                for memory in args.memory:
                    kept, neighbours = memory_variant(memory)
                    learnt = recipe_rows(recipe, queries, rows)
                    rankers = fold_rankers(
                        learnt,
                        folds,
                        negative_rows,
                        negative_folds,
                        args.folds,
                        objective,
                        [m.with_neighbours(neighbours) for m in memories]
                        if memory != "off"
                        else None,
                        kept,
                    )
                    suffix = "" if memory == "off" else f"/memory {memory}"
                    name = f"{objective}/{recipe}{suffix}"
                    report.setdefault("fold_C", {})[name] = [r.report["C"] for r in rankers]  # type: ignore[union-attr]
                    seen = held_rows(rows, folds, rankers)
                    report.setdefault("best_p", {})[name] = best_p(rankers, queries, seen, folds)  # type: ignore[union-attr]
                    record(objective, recipe, rankers, {}, memory)
                    if objective in args.sweep:
                        for threshold in args.grid:
                            for value in GRID[threshold]:
                                record(objective, recipe, rankers, {threshold: value}, memory)
                        for combo in args.combo:
                            pairs = (item.split("=") for item in combo.split(","))
                            changed = {k: float(v) for k, v in pairs}
                            record(objective, recipe, rankers, changed, memory)


if __name__ == "__main__":
    main()
