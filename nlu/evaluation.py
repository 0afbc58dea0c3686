"""Evaluation of an intent model: accuracy, macro-F1, per-intent table, errors, confusion matrix.

The report is a plain dict (written as JSON by the CLI) plus an optional PNG. Cross-validation
trains one model per fold on the same encoder, reusing cached vectors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .training_data import TrainingData


def report_from_predictions(
    texts: Sequence[str],
    truth: Sequence[str],
    predicted: Sequence[str],
    confidences: Sequence[float] | None = None,
) -> dict[str, object]:
    # scikit-learn takes a second to import: only what evaluates pays for it.
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = sorted(set(truth) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    truth_set = set(truth)
    per_intent = {
        label: {
            "precision": round(float(p), 4),
            "recall": round(float(r), 4),
            "f1": round(float(f), 4),
            "support": int(s),
        }
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    # Macro-F1 over the intents of the test set (a label only ever predicted still costs
    # precision on the others, as in Rasa's report).
    macro_f1 = float(np.mean([per_intent[label]["f1"] for label in sorted(truth_set)]))
    errors = [
        {
            "text": t,
            "intent": y,
            "predicted": p,
            **({"confidence": round(float(c), 4)} if confidences is not None else {}),
        }
        for i, (t, y, p) in enumerate(zip(texts, truth, predicted, strict=True))
        if y != p
        for c in [confidences[i] if confidences is not None else 0.0]
    ]
    accuracy = (
        float(np.mean([y == p for y, p in zip(truth, predicted, strict=True)])) if truth else 0.0
    )
    return {
        "n": len(truth),
        "accuracy": round(accuracy, 4),
        "macro_f1": round(macro_f1, 4),
        "per_intent": per_intent,
        "errors": errors,
        "labels": labels,
        "confusion_matrix": confusion_matrix(truth, predicted, labels=labels).tolist(),
    }


def plot_confusion_matrix(report: dict, path: Path, title: str = "Matrice de confusion") -> Path:  # type: ignore[type-arg]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels: list[str] = report["labels"]
    matrix = np.asarray(report["confusion_matrix"], dtype=float)
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = max(6.0, 0.38 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("intention prédite")
    ax.set_ylabel("intention attendue")
    ax.set_title(f"{title} (exactitude {report['accuracy']:.1%})")
    if len(labels) <= 30:
        for i in range(len(labels)):
            for j in range(len(labels)):
                if matrix[i, j]:
                    color = "white" if normalised[i, j] > 0.5 else "black"
                    ax.text(
                        j, i, int(matrix[i, j]), ha="center", va="center", fontsize=6, color=color
                    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def cross_validate(
    data: TrainingData,
    train: Callable[[TrainingData], object],
    predict: Callable[[object, list[str]], tuple[list[str], list[float]]],
    folds: int = 5,
    seed: int = 0,
    on_fold: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """Stratified k-fold: train on k-1 folds, predict the last, pool every prediction."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.array(data.labels())
    counts = data.intent_counts()
    folds = min(folds, min(counts.values()))
    if folds < 2:
        raise ValueError(
            "chaque intention doit avoir au moins 2 exemples pour la validation croisée"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    texts, truth, predicted, confidences = [], [], [], []
    started = time.perf_counter()
    for k, (train_idx, test_idx) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        part = TrainingData(
            [data.examples[i] for i in train_idx], data.synonyms, data.lookups, data.regexes
        )
        model = train(part)
        fold_texts = [data.examples[i].text for i in test_idx]
        fold_pred, fold_conf = predict(model, fold_texts)
        texts += fold_texts
        truth += [data.examples[i].intent for i in test_idx]
        predicted += fold_pred
        confidences += fold_conf
        if on_fold is not None:
            on_fold(k + 1, folds)
    report = report_from_predictions(texts, truth, predicted, confidences)
    report["folds"] = folds
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def format_report(report: dict) -> str:  # type: ignore[type-arg]
    """A human-readable summary for the terminal."""
    lines = [
        f"Exemples : {report['n']}    exactitude : {report['accuracy']:.1%}    "
        f"F1 macro : {report['macro_f1']:.3f}",
        "",
        f"{'intention':<24}{'précision':>10}{'rappel':>9}{'F1':>8}{'n':>6}",
    ]
    for label, row in report["per_intent"].items():
        lines.append(
            f"{label:<24}{row['precision']:>10.2f}{row['recall']:>9.2f}"
            f"{row['f1']:>8.2f}{row['support']:>6}"
        )
    errors = report["errors"]
    if errors:
        lines += ["", f"Erreurs ({len(errors)}) :"]
        for error in errors[:40]:
            lines.append(f"  [{error['intent']} -> {error['predicted']}] {error['text']}")
        if len(errors) > 40:
            lines.append(f"  ... et {len(errors) - 40} autres (voir le rapport JSON)")
    return "\n".join(lines)
