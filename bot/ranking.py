"""Training the learned ranker on labelled questions, with the candidates the bot's own
search produces (the same shaping, encoding, intent and tool entities as a real turn)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from knowledge_base.evaluation import load_queries
from knowledge_base.memory import Memory
from knowledge_base.ranker import (
    FEATURES,
    SHIPPED,
    Example,
    Ranker,
    Searched,
    examples,
    ranking_metrics,
    remember,
    train,
)
from nlu.intents import ASK_INTENTS
from nlu.query_cache import query_vector
from nlu.text import fold
from nlu.training_data import load_training_data

from .context import Services
from .question_shape import shape
from .shared_state import publish_model
from .store.models import AnswerLabel

TRAIN_DIR = Path(__file__).resolve().parents[1] / "nlu" / "data" / "train"
# Messages that no knowledge-base item answers, from the intent training data (never its
# held-out test file): negatives, so that the ranker's probability means something when
# the intent model is unsure.
NEGATIVE_INTENTS = ("out_of_scope", "greet", "goodbye", "thanks", "bot_challenge", "affirm", "deny")
MAX_NEGATIVES = 200


def candidates_as_the_bot_searches(services: Services, text: str) -> Searched:
    """The candidates, the searched text, the intent model's probabilities and the query's
    vector, as a turn gets them (the n-gram cascade decides when it is sure, as in a turn)."""
    asked = shape(text)
    vector = query_vector(services.encoder, asked.focus)  # as a turn does, without the cache
    parse = services.nlu.parse(asked.asked, encode=lambda: vector, intent_text=asked.focus)
    index = services.search.index
    if index is None:
        return [], asked.focus, {}, vector
    topic = parse.intent if parse.intent in ASK_INTENTS else None
    found = index.candidates(asked.focus, vector, topic=topic, tools=parse.entity_values("tool"))
    return found, asked.focus, parse.intent_scores(), vector


def negative_queries(training_dir: Path = TRAIN_DIR) -> list[dict[str, object]]:
    data = load_training_data(training_dir)
    texts = sorted({e.text for e in data.examples if e.intent in NEGATIVE_INTENTS})
    step = max(1, len(texts) // MAX_NEGATIVES)
    return [{"text": t, "answers": [], "negative": True} for t in texts[::step]]


def fact_finder(services: Services) -> Callable[[str, Sequence[str]], bool]:
    """Whether an item's text (what a reply can quote: its body passages) contains one of a
    question's expected terms, compared as `comptoir kb eval` compares replies."""
    index = services.search.index
    texts: dict[str, str] = {}
    for passage in index.passages if index is not None else []:
        if passage.zone == "body":
            texts[passage.doc_id] = f"{texts.get(passage.doc_id, ' ')}{fold(passage.text)} "

    def states(doc_id: str, terms: Sequence[str]) -> bool:
        text = texts.get(doc_id, "")
        return any(f" {fold(term)} " in text for term in terms if fold(term))

    return states


def train_ranker(
    services: Services, queries: Sequence[dict[str, object]], objective: str = SHIPPED
) -> Ranker:
    """Labelled questions plus negatives; the right answers recorded in the chat and the
    inbox are added by `retrain_ranker`. `objective`: see `knowledge_base.ranker.fit`.
    The answerable questions are also the model's memory (`knowledge_base.memory`), each
    training row computed blind to itself and its near-copies."""
    rows = training_rows(services, queries)
    memory = memory_of(queries, rows, services.encoder.id)
    rows += training_rows(services, negative_queries())
    ranker = train(remember([row for query in rows for row in query], memory), objective=objective)
    ranker.memory = memory
    ranker.report["memory"] = len(memory)
    return ranker


def memory_of(
    queries: Sequence[dict[str, object]], rows: Sequence[Sequence[Example]], encoder_id: str
) -> Memory:
    """The questions with a right answer, as encoded for their search (`training_rows`)."""
    vectors, labels = [], []
    for query, found in zip(queries, rows, strict=True):
        answers = [str(a) for a in query.get("answers") or []]  # type: ignore[attr-defined]
        if answers and found and found[0].vector is not None:
            vectors.append(found[0].vector)
            labels.append(answers)
    return Memory(np.asarray(vectors, dtype=np.float32), labels, encoder_id)


def training_rows(services: Services, queries: Sequence[dict[str, object]]) -> list[list[Example]]:
    """Each query's training rows (none or one `Example`), in order: what `train_ranker`
    learns from, kept per query so that an out-of-fold evaluation
    (`benchmarks/ranker_oof.py`) trains on some queries with the same code, searching once."""
    states = fact_finder(services)

    def candidates_of(query: dict[str, object]) -> Searched:
        return candidates_as_the_bot_searches(services, str(query["text"]))

    return [examples([query], candidates_of, states) for query in queries]


@dataclass(frozen=True)
class RankerRetrain:
    """A retraining's outcome: held-out figures of the current and new models."""

    labels: int  # answer labels from merchants and staff added to the train split
    current: dict[str, float]
    new: dict[str, float]
    switched: bool


def answer_label_queries(services: Services) -> list[dict[str, object]]:
    """The right answers recorded in the chat ("Vouliez-vous dire…") and in the inbox."""
    with services.db.session() as session:
        rows = session.execute(select(AnswerLabel.text, AnswerLabel.doc_id)).all()
    return [{"text": text, "answers": [doc_id]} for text, doc_id in rows]


def held_out(
    services: Services, ranker: Ranker | None, queries: Sequence[dict[str, object]]
) -> dict[str, float]:
    """top-1 / hit@3 / MRR within the re-ranked depth, on held-out questions."""
    rows = examples(queries, lambda q: candidates_as_the_bot_searches(services, str(q["text"])))
    if ranker is None:
        return ranking_metrics(rows, lambda x: x[:, FEATURES.index("fused")])
    # New questions: the memory is read as a turn reads it, nothing excluded.
    return ranking_metrics(remember(rows, ranker.memory, exclude_above=None), ranker.scores)


def retrain_ranker(
    services: Services,
    eval_dir: Path,
    *,
    queries: Sequence[dict[str, object]] | None = None,
    objective: str = SHIPPED,
    force: bool = False,
) -> RankerRetrain:
    """Train on the train split (or `queries`) plus the recorded labels; put the new model
    in service (COMPTOIR_DATA_DIR/models, and the database for the other workers) only if
    it is not worse on the test split, or if `force` says so (the figures still tell)."""
    labels = answer_label_queries(services)
    train_queries = load_queries(eval_dir / "train.yml") if queries is None else queries
    new = train_ranker(services, [*train_queries, *labels], objective)
    test = load_queries(eval_dir / "test.yml")
    current_figures = held_out(services, services.search.ranker, test)
    new_figures = held_out(services, new, test)
    not_worse = (new_figures["mrr"], new_figures["top1"]) >= (
        current_figures["mrr"],
        current_figures["top1"],
    )
    switched = force or not_worse
    if switched:
        new.report["held_out"] = new_figures
        new.save(services.settings.retrained_kb_ranker)
        services.search.ranker = new
        settings = services.settings
        publish_model(settings, services.db, "ranker", settings.retrained_kb_ranker)
    return RankerRetrain(len(labels), current_figures, new_figures, switched)
