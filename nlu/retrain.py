"""Retrain the default model on shipped data + staff corrections, and switch only if no worse.

Started from the back office while the bot keeps answering: the running model object is never
touched (the saved one is reloaded into a fresh object to be measured), the new model is
measured on the held-out test file against the saved one, and it replaces the saved one
(atomically) only if its accuracy is at least as good. A refusal is recorded in the kept
model's manifest, so that the next start does not silently train and use the refused data.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .corrections import read_corrections, training_data_with_corrections
from .default import DEFAULT_TEST_FILE, DEFAULT_TRAIN_DIR
from .encoder import Encoder
from .evaluation import report_from_predictions
from .model import ModelError, NLUModel, train_model
from .training_data import TrainingData, load_training_data
from .vector_cache import encode_with_cache

Progress = Callable[[str, float], None]  # (French stage label, fraction 0..1 of the whole job)

# Share of the whole job per stage: encoding dominates a cold cache, fitting a warm one.
_ENCODE = (0.02, 0.45)
_FIT = (0.45, 0.88)
_EVALUATE = (0.88, 0.96)
_SAVE = (0.96, 1.0)

_running = threading.Lock()


class RetrainBusy(RuntimeError):
    """Another retrain is running in this process; both would write the same folder."""


@dataclass
class RetrainResult:
    current_accuracy: float | None  # None: no usable saved model to compare with
    new_accuracy: float
    current_macro_f1: float | None
    new_macro_f1: float
    switched: bool
    reason: str  # French, for staff
    n_examples: int
    n_corrections: int
    seconds: float


def retrain(
    encoder: Encoder,
    *,
    model_dir: Path,
    corrections_file: Path,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    test_file: Path = DEFAULT_TEST_FILE,
    train_dir: Path = DEFAULT_TRAIN_DIR,
) -> tuple[RetrainResult, NLUModel | None]:
    """Train on `train_dir` + `corrections_file`, compare on `test_file`, save into
    `model_dir` if no worse (`cache_dir` keeps sentence vectors between runs). Returns the
    new model when it was switched in (the caller swaps it into the bot), else None. Raises
    `RetrainBusy` if a retrain is already running, `TrainingDataError` if the data cannot be
    loaded."""
    if not _running.acquire(blocking=False):
        raise RetrainBusy("Un réentraînement est déjà en cours ; réessayez dans quelques minutes.")
    try:
        return _retrain(
            encoder,
            progress,
            model_dir=Path(model_dir),
            cache_dir=None if cache_dir is None else Path(cache_dir),
            corrections_file=Path(corrections_file),
            test_file=Path(test_file),
            train_dir=Path(train_dir),
        )
    finally:
        _running.release()


def _retrain(
    encoder: Encoder,
    progress: Progress | None,
    *,
    model_dir: Path,
    cache_dir: Path | None,
    corrections_file: Path,
    test_file: Path,
    train_dir: Path,
) -> tuple[RetrainResult, NLUModel | None]:
    started = time.perf_counter()
    report = progress or (lambda stage, fraction: None)

    report("Lecture des données", 0.0)
    data = training_data_with_corrections(train_dir, corrections_file)
    n_corrections = len(read_corrections(corrections_file))
    test = load_training_data(test_file)
    report("Encodage des phrases", _ENCODE[0])

    new = train_model(
        data,
        encoder,
        cache_dir=cache_dir,
        on_encoded=_counting(report, "Encodage des phrases", _ENCODE, len(set(data.texts()))),
        on_stage=lambda stage, fraction: report("Entraînement du modèle", _within(_FIT, fraction)),
    )

    evaluating = "Évaluation sur le jeu de test"
    report(evaluating, _EVALUATE[0])
    vectors = encode_with_cache(
        encoder,
        test.texts(),
        cache_dir,
        _counting(report, evaluating, (_EVALUATE[0], 0.94), len(test.examples)),
    )
    new_metrics = _evaluate(new, test, vectors)
    report(evaluating, _within(_EVALUATE, 0.9))
    current = _load_saved(model_dir, encoder)
    current_metrics = _evaluate(current, test, vectors) if current is not None else None
    report(evaluating, _EVALUATE[1])

    new_accuracy = float(new_metrics["accuracy"])
    current_accuracy = None if current_metrics is None else float(current_metrics["accuracy"])
    switched = current_accuracy is None or new_accuracy >= current_accuracy
    held_out = {**new_metrics, "test_file": str(test_file), "test_hash": test.content_hash()}
    if switched:
        report("Enregistrement du nouveau modèle", _SAVE[0])
        new.manifest["metrics"] = {**_dict(new.manifest.get("metrics")), "held_out": held_out}
        new.manifest["corrections"] = {"file": str(corrections_file), "n": n_corrections}
        new.save(model_dir)
    elif current is not None:
        # Record the refusal on a fresh copy of the saved model (never the bot's object).
        report("Enregistrement du refus", _SAVE[0])
        kept = dataclasses.replace(
            current,
            manifest={
                **current.manifest,
                "declined_retrain": {
                    "data_hash": new.manifest["data_hash"],
                    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "held_out": held_out,
                    "current_held_out": current_metrics,
                    "n_corrections": n_corrections,
                },
            },
        )
        kept.save(model_dir)
    report("Terminé", 1.0)

    result = RetrainResult(
        current_accuracy=current_accuracy,
        new_accuracy=new_accuracy,
        current_macro_f1=None if current_metrics is None else float(current_metrics["macro_f1"]),
        new_macro_f1=float(new_metrics["macro_f1"]),
        switched=switched,
        reason=_reason(new_accuracy, current_accuracy, switched),
        n_examples=len(data.examples),
        n_corrections=n_corrections,
        seconds=round(time.perf_counter() - started, 2),
    )
    return result, new if switched else None


def _counting(
    report: Progress, stage: str, span: tuple[float, float], total: int
) -> Callable[[int], None]:
    """Encoding reports batch sizes of the texts missing from the cache: count them up (a
    warm cache jumps straight to the end of the span)."""
    done = 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        report(stage, _within(span, done / max(total, 1)))

    return on_batch


def _within(span: tuple[float, float], fraction: float) -> float:
    low, high = span
    return round(low + (high - low) * min(1.0, max(0.0, fraction)), 4)


def _load_saved(model_dir: Path, encoder: Encoder) -> NLUModel | None:
    """The saved model as a new object, or None if absent, damaged or for another encoder."""
    try:
        return NLUModel.load(model_dir, encoder)
    except (ModelError, OSError, ValueError, KeyError, json.JSONDecodeError):
        return None


def _evaluate(model: NLUModel, test: TrainingData, vectors: np.ndarray) -> dict[str, object]:
    results = model.parse_batch(test.texts(), vectors)
    report = report_from_predictions(
        test.texts(), test.labels(), [r.intent for r in results], [r.confidence for r in results]
    )
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "n": report["n"]}


def _dict(value: object) -> dict[str, object]:
    return dict(value) if isinstance(value, dict) else {}


def percent(value: float) -> str:
    """0.9623 -> "96,2 %" (French: decimal comma, non-breaking space)."""
    return f"{value * 100:.1f}".replace(".", ",") + "\u00a0%"


def _reason(new: float, current: float | None, switched: bool) -> str:
    if current is None:
        return (
            "Aucun modèle utilisable n'était enregistré : le nouveau modèle "
            f"({percent(new)} d'exactitude sur le jeu de test) est mis en service."
        )
    if switched:
        return (
            f"Le nouveau modèle est mis en service : {percent(new)} d'exactitude sur le jeu "
            f"de test, contre {percent(current)} pour le modèle précédent."
        )
    return (
        f"Le nouveau modèle n'est pas mis en service : {percent(new)} d'exactitude sur le jeu "
        f"de test, contre {percent(current)} pour le modèle actuel, qui reste en place. "
        "Vérifiez les dernières corrections (une mauvaise intention peut brouiller le modèle)."
    )
