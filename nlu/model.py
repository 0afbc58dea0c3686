"""A trained NLU model: intent classifier + entity extractor + what it was built from.

Saved as a versioned folder (`nlu-model.json` manifest, classifier weights, gazetteer). The
manifest records the encoder id, the training-data hash, the label set and metrics; a model
refuses to load under another encoder, because its vectors would mean something else.

Parsing a message without its vector goes through the n-gram cascade first
(`classifier.NgramCascade`): the message is encoded only when the cascade is unsure, and
`ParseResult.encoded` says which happened. Given a vector, the full model always decides.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from .classifier import IntentClassifier, IntentScore
from .encoder import Encoder, encode_query
from .entities import Entity, EntityExtractor
from .training_data import TrainingData
from .vector_cache import encode_with_cache

# 2: the classifier carries the n-gram cascade. Version 1 folders still load (no cascade:
# every parse encodes), and the default model is retrained from them (nlu/default.py).
# 3: the sentence vector weighs `features.VECTOR_WEIGHT` (3.5, cross-validated) beside the
# n-grams; a version 2 folder keeps its own weight when loaded, and the default model is
# retrained from it once.
# 4: the full model's scores add the nearest training examples' (`neighbours.Neighbours`,
# cross-validated). A version 3 folder still loads and parses with
# its one-vs-rest linear scores alone; the default model is retrained from it once.
# 5: the entity extractor carries the words the training examples use as plain words, which
# its typo-tolerant pass leaves alone ("des postes" read as Posteo). A version 4 folder still
# loads (its fuzzy pass as before); the default model is retrained from it once.
# 6: a word the training examples use once outside entities is already a plain word (it
# was twice). A version 5 folder still loads (its plain words as saved); the default model
# is retrained from it once.
FORMAT_VERSION = 6
READABLE_FORMATS = (1, 2, 3, 4, 5, 6)
MANIFEST = "nlu-model.json"
ENTITY_TYPES = ("tool", "sector")


@dataclass(frozen=True)
class ParseResult:
    text: str
    intent: str
    confidence: float
    entities: list[Entity] = field(default_factory=list)
    ranking: list[IntentScore] = field(default_factory=list)
    # True when the sentence vector was used (the full model decided); False when the
    # n-gram cascade was sure enough, or for a backend that does not use our vectors.
    encoded: bool = False

    def to_dict(self) -> dict[str, object]:
        """The `comptoir nlu parse --jsonl` contract."""
        return {
            "text": self.text,
            "intent": self.intent,
            "confidence": self.confidence,
            "entities": [e.to_dict() for e in self.entities],
        }

    def intent_scores(self) -> dict[str, float]:
        """The ranking as plain values (intent -> probability), for the knowledge base's
        ranker, which weighs each item by its topic's probability."""
        return {score.intent: score.confidence for score in self.ranking}

    def entity_values(self, entity: str) -> list[str]:
        return list(dict.fromkeys(e.value for e in self.entities if e.entity == entity))


class Parser(Protocol):
    """Anything that turns a message into a `ParseResult` (local model, Rasa server)."""

    def parse(
        self,
        text: str,
        vector: np.ndarray | None = None,
        *,
        encode: Callable[[], np.ndarray] | None = None,
        intent_text: str | None = None,
    ) -> ParseResult:
        """`vector`: the message's, already computed. Without it, `encode()` gives it if the
        parser needs it (the caller's cache), else the parser encodes `text` itself.
        `intent_text`: the part of `text` the intent is read in (the question without the
        merchant's introduction: "je suis fleuriste" must not steer it), `vector` being that
        part's; the entities are read in the whole `text` (the trade, a tool named early)."""
        ...


class ModelError(RuntimeError):
    """The model folder cannot be used; the message says why and what to do."""


@dataclass
class NLUModel:
    classifier: IntentClassifier
    extractor: EntityExtractor
    encoder: Encoder
    manifest: dict[str, object]

    @property
    def intents(self) -> list[str]:
        return self.classifier.classes

    def parse(
        self,
        text: str,
        vector: np.ndarray | None = None,
        *,
        encode: Callable[[], np.ndarray] | None = None,
        intent_text: str | None = None,
    ) -> ParseResult:
        read = text if intent_text is None else intent_text
        if vector is not None:
            ranking, encoded = self.classifier.rank(read, vector), True
        else:
            ranking, ngrams = self.classifier.rank_ngrams(read)
            encoded = ranking is None
            if ranking is None:  # the cascade is unsure (or absent): encode after all
                vector = encode() if encode is not None else encode_query(self.encoder, read)
                ranking = self.classifier.rank_with(ngrams, vector)
        return ParseResult(
            text,
            ranking[0].intent,
            ranking[0].confidence,
            self.extractor.extract(text),
            ranking,
            encoded,
        )

    def parse_batch(
        self, texts: list[str], vectors: np.ndarray | None = None, *, cascade: bool = True
    ) -> list[ParseResult]:
        """What `parse` gives for each text: without vectors, only the messages the cascade
        is unsure of are encoded (all of them with `cascade=False`)."""
        probabilities = np.zeros((len(texts), len(self.intents)))
        encoded = np.ones(len(texts), dtype=bool)
        if vectors is None and cascade:
            cascaded = self.classifier.cascade_proba(texts)
            if cascaded is not None:
                assert self.classifier.cascade is not None
                encoded = ~np.array(
                    [self.classifier.cascade.sure(float(p)) for p in cascaded.max(axis=1)],
                    dtype=bool,
                )
                probabilities[~encoded] = cascaded[~encoded]
        chosen = [t for t, e in zip(texts, encoded, strict=True) if e]
        if chosen:
            if vectors is None:
                chosen_vectors = self.encoder.encode_queries(chosen)
            else:
                chosen_vectors = np.asarray(vectors)[encoded]
            probabilities[encoded] = self.classifier.predict_proba(chosen, chosen_vectors)
        results = []
        for text, row, used in zip(texts, probabilities, encoded, strict=True):
            order = np.argsort(-row)[:5]
            ranking = [
                IntentScore(self.classifier.classes[i], round(float(row[i]), 4)) for i in order
            ]
            results.append(
                ParseResult(
                    text,
                    ranking[0].intent,
                    ranking[0].confidence,
                    self.extractor.extract(text),
                    ranking,
                    bool(used),
                )
            )
        return results

    def save(self, directory: Path) -> None:
        """Write to a temporary sibling folder, then swap it in: a reader never sees half."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = directory.with_name(f".{directory.name}.tmp-{time.time_ns()}")
        staging.mkdir()
        self.classifier.save(staging)
        (staging / "entities.json").write_text(
            json.dumps(self.extractor.to_dict(), ensure_ascii=False), encoding="utf-8"
        )
        (staging / MANIFEST).write_text(
            json.dumps(self.manifest, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        backup = directory.with_name(f".{directory.name}.old-{time.time_ns()}")
        if directory.exists():
            directory.rename(backup)
        staging.rename(directory)
        if backup.exists():
            _remove_tree(backup)

    @classmethod
    def load(cls, directory: Path, encoder: Encoder) -> NLUModel:
        directory = Path(directory)
        manifest_file = directory / MANIFEST
        if not manifest_file.is_file():
            raise ModelError(
                f"{directory} n'est pas un modèle Comptoir (pas de {MANIFEST}). "
                "Entraînez-en un avec `comptoir nlu train --data ... --out DIR`."
            )
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        if manifest.get("format_version") not in READABLE_FORMATS:
            raise ModelError(
                f"{directory} : format de modèle {manifest.get('format_version')} "
                f"non pris en charge (attendu {FORMAT_VERSION}) ; réentraînez-le."
            )
        if manifest.get("encoder_id") != encoder.id:
            raise ModelError(
                f"{directory} a été entraîné avec l'encodeur "
                f"{manifest.get('encoder_id')!r}, pas {encoder.id!r} ; réentraînez "
                "le modèle ou changez COMPTOIR_ENCODER."
            )
        classifier = IntentClassifier.load(directory)
        extractor = EntityExtractor.from_dict(
            json.loads((directory / "entities.json").read_text(encoding="utf-8"))
        )
        return cls(classifier, extractor, encoder, manifest)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def train_model(
    data: TrainingData,
    encoder: Encoder,
    *,
    cache_dir: Path | None = None,
    on_encoded: Callable[[int], None] | None = None,
    on_stage: Callable[[str, float], None] | None = None,
    calibration_folds: int = 3,
) -> NLUModel:
    """Encode (with the vector cache), fit the classifier, build the gazetteer."""
    started = time.perf_counter()
    texts = data.texts()
    vectors = encode_with_cache(encoder, texts, cache_dir, on_encoded)
    encoded = time.perf_counter()
    classifier = IntentClassifier.train(
        texts,
        vectors,
        data.labels(),
        progress=on_stage,
        calibration_folds=calibration_folds,
        weights=data.weights(),
    )
    extractor = EntityExtractor.from_training_data(data)
    manifest: dict[str, object] = {
        "format_version": FORMAT_VERSION,
        "kind": "comptoir-nlu",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "encoder_id": encoder.id,
        "encoder_dim": encoder.dim,
        "data_hash": data.content_hash(),
        "intents": classifier.classes,
        "n_examples": len(texts),
        "examples_per_intent": dict(sorted(data.intent_counts().items())),
        "entities": {k: len(v) for k, v in extractor.gazetteer.items()},
        "n_features": classifier.featurizer.n_features,
        "temperature": round(classifier.temperature, 4),
        "cascade": (
            {
                "threshold": classifier.cascade.threshold,
                "temperature": round(classifier.cascade.temperature, 4),
                "out_of_fold": classifier.cascade.selection,
            }
            if classifier.cascade is not None
            else None
        ),
        "neighbours": (
            {"k": classifier.neighbours.k, "weight": classifier.neighbours.weight}
            if classifier.neighbours is not None
            else None
        ),
        "timings_s": {
            "encode": round(encoded - started, 2),
            "fit": round(time.perf_counter() - encoded, 2),
        },
        "python": platform.python_version(),
        "metrics": {},
    }
    return NLUModel(classifier, extractor, encoder, manifest)
