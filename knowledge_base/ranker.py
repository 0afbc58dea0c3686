"""A learned ranker over the hybrid candidates: a small linear model on each candidate's
evidence (cosines per zone, BM25, ranks, intent agreement, tool named, kind, passage
position, length of the question, the intent model's probability of the item's topic and of
a tool being asked for, the question's rare words it holds and its rivals lack:
`knowledge_base.vocabulary`, the questions already answered that name it:
`knowledge_base.memory`) and boosted trees on the same columns, that re-order the best
fused candidates.

Trained with scikit-learn on labelled queries, cross-validated by query: a logistic
regression on the candidates (pointwise, shipped) or on pairs (a right answer against a
wrong one of the same question, and one that states the expected fact against one that
does not), then Platt-scaled on the training rows so that its output is a probability on
the scale the reply's "sure" thresholds were chosen on; saved as plain JSON (the same
linear model as a pointwise one) and applied with numpy, so answering never imports
scikit-learn. Its features name no document, but they were learned on the knowledge base's
mix of kinds: on a generic FAQ index (`comptoir kb build`) it is not applied, having
measured slightly worse there than the fusion alone (see `SearchIndex.reranked`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from nlu.text import fold

from .memory import MEMORY_FEATURES, NEAR_COPY, Memory
from .search import Candidate
from .trees import Forest

KINDS = ("guide", "faq", "tool", "checklist")
BASE_FEATURES = (
    "fused",
    "fused_ratio",
    "meaning",
    "title",
    "title_p",
    "body",
    "words",
    "dense_rrf",
    "lexical_rrf",
    "boost",
    "on_topic",
    "section_rank",
    "question_words",
    *(f"kind_{k}" for k in KINDS),
    *(f"title_x_{k}" for k in KINDS),
)
# Listwise evidence: each score read against the other candidates of the same question
# (gap to the best, z-score, rank within the list) and the fused position. A cosine of 0.86
# is strong for one question and weak for another; the list says which. Chosen by 5-fold
# cross-validation by query on the train split (benchmarks/results/ranker-session5.json).
LISTWISE = ("fused", "meaning", "title", "title_p", "body", "words")
LISTWISE_FEATURES = (
    *BASE_FEATURES,
    *(f"{name}_{kind}" for kind in ("gap", "z", "rank") for name in LISTWISE),
    "position",
)
# What the intent model read in the question, as plain values (the caller passes its
# distribution: intent name -> probability): the probability of each item's own topic, and
# whether the merchant asks for a tool at all, from the tool-seeking intent and from the
# question's words ("quel logiciel", "une appli pour"). A trade word ("garage") pulls the
# tools for that trade up on meaning alone; these let the model tell who asked for one.
# Session 7, train split, 5 folds x 2 seeds within the re-ranked depth: pointwise top-1
# 0.900 -> 0.902, MRR 0.939 -> 0.940; pairwise 0.912 -> 0.914 (each alone: +0.1 at most).
INTENT_FEATURES = ("topic_p", "tool_p_x_tool", "tool_cue_x_tool", "tool_cue_x_faq")
INTENT_LAYOUT = (*LISTWISE_FEATURES, *INTENT_FEATURES)
# The questions already answered (`knowledge_base.memory`): the model carries its memory.
MEMORY_LAYOUT = (*INTENT_LAYOUT, *MEMORY_FEATURES)
# The question's rare words an item holds and its best rivals lack, and the reverse
# (`knowledge_base.vocabulary`): what tells apart neighbours e5 reads alike. Session 22, out
# of fold on train within the re-ranked depth, boosted ranker: top-1 0.9183 -> 0.9260 (seed
# 0), 0.9135 -> 0.9221 (seed 1). The memory's columns stay last (`remember` fills them).
WORD_FEATURES = ("own_words", "missed_words")
FEATURES = (*INTENT_LAYOUT, *WORD_FEATURES, *MEMORY_FEATURES)
TOOL_TOPIC = "find_alternative"
_ASKS_FOR_A_TOOL = re.compile(
    r"\b(outils?|logiciels?|applis?|applications?|apps?|alternatives?|remplacer|remplacant"
    r"|equivalents?|plateformes?)\b"
)
RERANK_DEPTH = 20  # only the best fused candidates are re-ordered
FORMAT = 5  # 5: word features; 4 (memory), 3 (intent), 2 (listwise), 1 (base) files still load
LAYOUTS = {
    1: BASE_FEATURES,
    2: LISTWISE_FEATURES,
    3: INTENT_LAYOUT,
    4: MEMORY_LAYOUT,
    FORMAT: FEATURES,
}


def features(
    candidates: Sequence[Candidate],
    text: str,
    intents: Mapping[str, float] | None = None,
    memory: np.ndarray | None = None,
) -> np.ndarray:
    """One row of FEATURES per candidate (the order of `candidates` is kept). `intents`: the
    intent model's probability per intent for this question (absent: 0); `memory`: the
    MEMORY_FEATURES rows (`Memory.evidence`; absent: 0)."""
    top = max((c.score for c in candidates), default=1.0) or 1.0
    words = math.log1p(len(text.split()))
    rows = []
    for c in candidates:
        kinds = [1.0 if c.kind == k else 0.0 for k in KINDS]
        rows.append(
            [
                c.score,
                c.score / top,
                c.meaning,
                c.title,
                c.title_p,
                c.body,
                c.words,
                1.0 / (5 + c.dense_rank + 1),
                1.0 / (5 + c.lexical_rank + 1),
                c.boost,
                1.0 if c.on_topic else 0.0,
                math.log1p(c.section_rank),
                words,
                *kinds,
                *(c.title * k for k in kinds),
            ]
        )
    base = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(BASE_FEATURES))
    if memory is None:
        memory = np.zeros((len(rows), len(MEMORY_FEATURES)))
    distinct = np.asarray(
        [[c.own_words, c.missed_words] for c in candidates], dtype=np.float64
    ).reshape(len(rows), len(WORD_FEATURES))
    return np.hstack(
        [base, _listwise(base), _intent(candidates, text, intents or {}), distinct, memory]
    )


def asks_for_a_tool(text: str) -> bool:
    """The question names a kind of tool ("quel logiciel de caisse", "une appli pour")."""
    return _ASKS_FOR_A_TOOL.search(fold(text)) is not None


def _intent(candidates: Sequence[Candidate], text: str, intents: Mapping[str, float]) -> np.ndarray:
    """INTENT_FEATURES per candidate: its topic's probability, and the tool-seeking evidence
    (intent probability, question words) on the tools and on the FAQ entries."""
    tool_p = float(intents.get(TOOL_TOPIC, 0.0))
    cue = 1.0 if asks_for_a_tool(text) else 0.0
    rows = [
        [
            float(intents.get(c.topic, 0.0)) if c.topic else 0.0,
            tool_p if c.kind == "tool" else 0.0,
            cue if c.kind == "tool" else 0.0,
            cue if c.kind == "faq" else 0.0,
        ]
        for c in candidates
    ]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(INTENT_FEATURES))


def _listwise(base: np.ndarray) -> np.ndarray:
    """Gap to the list's best, z-score within the list and log rank of each LISTWISE score,
    then the log fused position (the candidates come best fused first)."""
    n = len(base)
    if not n:
        return np.zeros((0, len(LISTWISE_FEATURES) - len(BASE_FEATURES)))
    x = base[:, [BASE_FEATURES.index(name) for name in LISTWISE]]
    spread = x.std(axis=0)
    spread[spread == 0] = 1.0
    rank = np.argsort(np.argsort(-x, axis=0, kind="stable"), axis=0, kind="stable")
    position = np.log1p(np.arange(n, dtype=np.float64))[:, None]
    return np.hstack([x - x.max(axis=0), (x - x.mean(axis=0)) / spread, np.log1p(rank), position])


@dataclass
class Ranker:
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    report: dict[str, object] = field(default_factory=dict)
    # The columns of FEATURES the model reads (an older format: the columns it had).
    names: list[str] = field(default_factory=lambda: list(FEATURES))
    # The questions already answered it was trained with (None: the memory columns are 0).
    memory: Memory | None = None
    # "boosted": trees on the same columns, their log-odds averaged with the linear ones.
    trees: Forest | None = None

    @property
    def depth(self) -> int:
        """How many of the best fused candidates `rerank` re-orders (the rest keep order)."""
        return RERANK_DEPTH

    def fits(self, encoder_id: str) -> bool:
        """Whether the query vectors of this encoder can be read against the memory."""
        return self.memory is None or self.memory.encoder_id == encoder_id

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Log-odds per row of `x` (rows of `features`, every column of FEATURES)."""
        if len(self.names) != len(FEATURES):
            x = x[:, [FEATURES.index(name) for name in self.names]]
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        linear = z @ np.asarray(self.coef) + self.intercept
        if self.trees is None:
            return linear
        return (1 - TREE_SHARE) * linear + TREE_SHARE * self.trees.decision(x)

    def rerank(
        self,
        candidates: list[Candidate],
        text: str,
        intents: Mapping[str, float] | None = None,
        vector: np.ndarray | None = None,
    ) -> list[tuple[Candidate, float]]:
        """The candidates re-ordered, each with the model's probability that it answers
        (the tail beyond the re-ranked depth keeps its order, probability 0). `intents`:
        the intent model's probability per intent, read by a model trained with them;
        `vector`: the query's vector, read against the model's memory."""
        head, tail = candidates[:RERANK_DEPTH], candidates[RERANK_DEPTH:]
        memory = None
        if self.memory is not None and vector is not None:
            memory = self.memory.evidence(vector, [c.doc_id for c in head])
        x = features(head, text, intents, memory)
        probability = 1.0 / (1.0 + np.exp(-self.scores(x)))
        order = np.argsort(-probability, kind="stable")
        return [(head[i], float(probability[i])) for i in order] + [(c, 0.0) for c in tail]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fields = asdict(self)
        names = fields.pop("names")
        fields.pop("memory")
        fields.pop("trees")
        # A model on older columns keeps its format (it loads in a version that has them).
        layout = {tuple(v): k for k, v in LAYOUTS.items()}.get(tuple(names), 1)
        data = {"format": layout, "features": names, **fields}
        if self.memory is not None:
            data["memory"] = self.memory.to_json()
        if self.trees is not None:
            data["trees"] = self.trees.to_json()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Ranker | None:
        """The model at `path`, or None if absent or written for other features (format 1:
        the base features alone, as shipped before the listwise ones), or reading the
        memory's columns without a memory."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            memory = Memory.from_json(data["memory"]) if data.get("memory") else None
            trees = Forest.from_json(data["trees"]) if data.get("trees") else None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        names = data.get("features")
        known = LAYOUTS.get(data.get("format"))
        if known is None or names != list(known):
            return None
        if not all(len(data[k]) == len(names) for k in ("mean", "scale", "coef")):
            return None
        if memory is None and any(n in MEMORY_FEATURES for n in names):
            weights = dict(zip(names, data["coef"], strict=True))
            if any(weights[n] for n in MEMORY_FEATURES):
                return None
        return cls(
            data["mean"],
            data["scale"],
            data["coef"],
            data["intercept"],
            data["report"],
            names,
            memory,
            trees,
        )


# What a search gives the ranker: candidates, searched text, intents, query vector (or None).
Searched = tuple[list[Candidate], str, Mapping[str, float], np.ndarray | None]


@dataclass(frozen=True)
class Example:
    """One labelled query's candidates: features and whether each is a right answer."""

    x: np.ndarray
    y: np.ndarray
    # 1.0 where the candidate states the question's expected fact (`must_mention_any`), if
    # known: among right answers, training prefers those (the reply then quotes the fact).
    states: np.ndarray | None = None
    # The candidates' ids and the query's vector: what the memory columns are computed from
    # (`remember`), again for each memory an out-of-fold evaluation gives.
    doc_ids: tuple[str, ...] = ()
    vector: np.ndarray | None = None


def remember(
    rows: Sequence[Example], memory: Memory | None, exclude_above: float | None = NEAR_COPY
) -> list[Example]:
    """`rows` with their MEMORY_FEATURES read from `memory` (None: 0), each question
    blind to the labelled questions at least `exclude_above` close to it: itself and its
    near-copies, so that training never learns from a question that finds its own label."""
    start = FEATURES.index(MEMORY_FEATURES[0])
    found = []
    for e in rows:
        x = e.x.copy()
        x[:, start:] = 0.0
        if memory is not None and e.vector is not None:
            x[:, start:] = memory.evidence(e.vector, e.doc_ids, exclude_above)
        found.append(Example(x, e.y, e.states, e.doc_ids, e.vector))
    return found


def examples(
    queries: Sequence[dict[str, object]],
    candidates_of: Callable[[dict[str, object]], Searched],
    states_fact: Callable[[str, Sequence[str]], bool] | None = None,
) -> list[Example]:
    """`candidates_of(query)` runs the search as the bot does and returns (candidates, text,
    the intent model's probability per intent, the query's vector or None); the memory
    columns are 0 here (`remember` fills them);
    `states_fact(doc_id, terms)`: whether that item's text contains one of the terms.

    A query marked `negative` (a greeting, an off-topic message) has no right answer: all
    its candidates are wrong, which teaches the model what junk looks like, so that its
    probability means something when the intent model is unsure."""
    found = []
    for query in queries:
        answers = set(query.get("answers") or [])  # type: ignore[arg-type]
        if not answers and not query.get("negative"):
            continue
        candidates, text, intents, vector = candidates_of(query)
        head = candidates[:RERANK_DEPTH]
        if not head:
            continue
        y = np.asarray([1.0 if c.doc_id in answers else 0.0 for c in head])
        terms = [str(t) for t in query.get("must_mention_any") or []]  # type: ignore[attr-defined]
        states = None
        if states_fact is not None and terms:
            states = np.asarray([1.0 if states_fact(c.doc_id, terms) else 0.0 for c in head])
        doc_ids = tuple(c.doc_id for c in head)
        found.append(Example(features(head, text, intents), y, states, doc_ids, vector))
    return found


def ranking_metrics(examples_: Sequence[Example], score: Callable[[np.ndarray], np.ndarray]):  # type: ignore[no-untyped-def]
    """top-1, hit@3 and MRR within the re-ranked depth."""
    top1 = hit3 = rr = 0.0
    examples_ = [ex for ex in examples_ if ex.y.any()]  # ranking needs a right answer
    for ex in examples_:
        order = np.argsort(-score(ex.x), kind="stable")
        ranks = [r for r, i in enumerate(order) if ex.y[i] > 0]
        if ranks:
            top1 += ranks[0] == 0
            hit3 += ranks[0] < 3
            rr += 1 / (ranks[0] + 1)
    n = len(examples_) or 1
    return {"top1": round(top1 / n, 4), "hit@3": round(hit3 / n, 4), "mrr": round(rr / n, 4)}


# Objectives. "pointwise" (the default, shipped): one row per candidate. "pairwise": a right
# answer against a wrong one of the same question (and one stating the expected fact against
# one silent on it), Platt-scaled. "mixed": the two calibrated log-odds averaged. Session 6,
# train split, 5 folds x 2 seeds by query within the re-ranked depth: pointwise top-1 0.896
# / MRR 0.936, pairwise 0.918 / 0.951 (fact preference 1), mixed 0.912 / 0.947 (one seed);
# but through the assistant, in-sample on train, the replies stated the expected fact less
# often (305 of 316 -> 301 pairwise, 303 mixed): the reply's thresholds (a paraphrase's
# log-odds gap, "sure" at 0.85) were chosen on the pointwise model's scale, so the default
# stays pointwise (benchmarks/results/rank-session6.json). Session 7, cross-fitted through
# the assistant (5 models, each answering the fifth of train it did not see), with the
# intent features: mixed top-1 0.897 against pointwise 0.891, the same 305 facts only with
# the gap at 1.5 and "sure" at 0.80, where 8.2 % of junk messages reach "sure" instead of
# 5.1 %: not shipped either (benchmarks/results/rank-session7.json).
# Session 9, out of fold through the assistant (benchmarks/ranker_oof.py, 969 train
# questions): pointwise 0.896 / 464 facts of 479, mixed 0.901 / 463, pairwise 0.905 / 463 at
# their best thresholds; pointwise stays (benchmarks/results/ranker-oof-session9.json).
# Session 16, 2,088 train questions: "boosted" (the pointwise log-odds averaged with boosted
# trees', depth 4) out of fold through the assistant: top-1 0.9004 -> 0.9033, MRR 0.9318 ->
# 0.9355, facts 1,195 -> 1,207 of 1,290, junk "sure" at 0.85 11.2 % -> 6.1 %, but 76 of the
# 96 unanswerable questions answered "sure" instead of 69; with the reply's "sure" level at
# 0.85 (`bot.answers.ABSTAIN_BELOW`): 0.9028, 1,198 facts, 67 (benchmarks/RESULTS.md).
# Trees on 326 questions (session 4) did worse than the linear model; on 2,088 they add.
OBJECTIVES = ("pairwise", "pointwise", "mixed", "boosted")
SHIPPED = "boosted"  # what `comptoir kb train-ranker` and the back office train
MIX = 0.5  # "mixed": this share of the pairwise model's log-odds, the rest the pointwise one's
# "boosted": the pointwise model's log-odds averaged with those of boosted trees trained on
# the same rows and class balance (`TREES`), this share to the trees.
TREE_SHARE = 0.5
# Every tree on every row: scikit-learn's automatic early stopping (on above 10,000 rows) set a
# random tenth aside to stop on, so trainings on the same rows differed by up to 1.4 points of
# held-out top-1 within the re-ranked depth (five draws, test split). Session 22, out of fold
# on train within that depth (two fold seeds): all 150 trees 0.9269 / 0.9231 top-1, against
# 0.9260 / 0.9221 with early stopping.
TREES = {
    "max_iter": 150,
    "learning_rate": 0.1,
    "max_depth": 4,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "early_stopping": False,
}
PREFER_FACT = 1.0  # weight of "states the fact" over "right but silent on it", per query
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)


def _pairs(
    examples_: Sequence[Example], mean: np.ndarray, scale: np.ndarray, prefer: float
) -> tuple[np.ndarray, np.ndarray]:
    """Row differences (better minus worse) and their weights: each question weighs as many
    wrong candidates as it has, however many right ones share that weight."""
    diffs, weights = [], []
    for e in examples_:
        z = (e.x - mean) / scale
        right, wrong = np.flatnonzero(e.y > 0), np.flatnonzero(e.y == 0)
        if len(right) and len(wrong):
            d = (z[right][:, None, :] - z[wrong][None, :, :]).reshape(-1, z.shape[1])
            diffs.append(d)
            weights.append(np.full(len(d), len(wrong) / len(d)))
        if prefer and e.states is not None and len(right) > 1:
            says = [i for i in right if e.states[i] > 0]
            silent = [i for i in right if e.states[i] <= 0]
            if says and silent and len(wrong):
                d = (z[says][:, None, :] - z[silent][None, :, :]).reshape(-1, z.shape[1])
                diffs.append(d)
                weights.append(np.full(len(d), prefer * len(wrong) / len(d)))
    width = len(mean)
    if not diffs:
        return np.zeros((0, width)), np.zeros(0)
    return np.vstack(diffs), np.concatenate(weights)


def fit(
    subset: Sequence[Example],
    c: float,
    objective: str = "pointwise",
    prefer: float = PREFER_FACT,
) -> Ranker:
    """One model on `subset`: pointwise, balanced classes. Pairwise: the order within each
    question is learned from differences (no intercept), then one scale and intercept map
    the score to a probability, fitted on the rows with the pointwise model's class balance,
    so that a threshold like "sure at 0.85" keeps roughly its meaning. Mixed: the average of
    the two models' log-odds."""
    from sklearn.linear_model import LogisticRegression

    if objective not in OBJECTIVES:
        raise ValueError(f"objectif inconnu : {objective!r} ({', '.join(OBJECTIVES)})")
    x = np.vstack([e.x for e in subset])
    y = np.concatenate([e.y for e in subset])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(z, y)
    coef, intercept = model.coef_[0], float(model.intercept_[0])
    if objective in ("pairwise", "mixed") and y.any() and not y.all():
        point_coef, point_intercept = coef, intercept
        diffs, weights = _pairs(subset, mean, scale, prefer)
        both = np.vstack([diffs, -diffs])
        sides = np.concatenate([np.ones(len(diffs)), np.zeros(len(diffs))])
        pairwise = LogisticRegression(C=c, max_iter=3000, fit_intercept=False)
        pairwise.fit(both, sides, sample_weight=np.concatenate([weights, weights]))
        direction = pairwise.coef_[0]
        platt = LogisticRegression(C=1e6, max_iter=1000, class_weight="balanced")
        platt.fit((z @ direction)[:, None], y)
        coef = direction * float(platt.coef_[0][0])
        intercept = float(platt.intercept_[0])
        if objective == "mixed":  # two calibrated log-odds averaged: still one linear model
            coef = MIX * coef + (1 - MIX) * point_coef
            intercept = MIX * intercept + (1 - MIX) * point_intercept
    trees = None
    if objective == "boosted" and y.any() and not y.all():
        from sklearn.ensemble import HistGradientBoostingClassifier

        boosted = HistGradientBoostingClassifier(
            **TREES, class_weight="balanced", random_state=0
        ).fit(x, y)
        trees = Forest.from_sklearn(boosted)
    return Ranker(mean.tolist(), scale.tolist(), coef.tolist(), intercept, trees=trees)


def train(
    examples_: Sequence[Example],
    folds: int = 5,
    seed: int = 0,
    objective: str = "pointwise",
    prefer: float = PREFER_FACT,
) -> Ranker:
    """C chosen by cross-validated MRR (folds split by query), then one model on all.
    "boosted": C is the pointwise model's (the trees do not read it), and the report adds
    the boosted model's cross-validated figures at that C."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(examples_))
    fold_of = {int(q): i % folds for i, q in enumerate(order)}

    def cross_validated(c: float, objective_: str) -> dict[str, float]:
        fold_scores = []
        for f in range(folds):
            train_part = [e for q, e in enumerate(examples_) if fold_of[q] != f]
            test_part = [e for q, e in enumerate(examples_) if fold_of[q] == f]
            ranker = fit(train_part, c, objective_, prefer)
            fold_scores.append(ranking_metrics(test_part, ranker.scores))
        return {k: round(float(np.mean([s[k] for s in fold_scores])), 4) for k in fold_scores[0]}

    linear = "pointwise" if objective == "boosted" else objective
    cv = {str(c): cross_validated(c, linear) for c in C_GRID}
    best = max(cv, key=lambda c: (cv[c]["mrr"], cv[c]["top1"]))
    if objective == "boosted":
        cv[f"boosted@{best}"] = cross_validated(float(best), objective)
    ranker = fit(examples_, float(best), objective, prefer)
    fused = ranking_metrics(examples_, lambda x: x[:, FEATURES.index("fused")])
    ranker.report = {
        "queries": len(examples_),
        "objective": objective,
        "prefer_fact": prefer if objective in ("pairwise", "mixed") else 0.0,
        "C": float(best),
        "cv": cv,
        "fused_only": fused,
    }
    return ranker
