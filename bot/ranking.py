"""Training the learned ranker on labelled questions, with the candidates the bot's own
search produces (the same shaping, encoding, intent and tool entities as a real turn)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from knowledge_base.ranker import Ranker, examples, train
from knowledge_base.search import Candidate
from nlu.encoder import encode_query
from nlu.intents import ASK_INTENTS
from nlu.training_data import load_training_data

from .context import Services
from .question_shape import shape

TRAIN_DIR = Path(__file__).resolve().parents[1] / "nlu" / "data" / "train"
# Messages that no knowledge-base item answers, from the intent training data (never its
# held-out test file): negatives, so that the ranker's probability means something when
# the intent model is unsure.
NEGATIVE_INTENTS = ("out_of_scope", "greet", "goodbye", "thanks", "bot_challenge", "affirm", "deny")
MAX_NEGATIVES = 200


def candidates_as_the_bot_searches(services: Services, text: str) -> tuple[list[Candidate], str]:
    asked = shape(text)
    vector = encode_query(services.encoder, asked.focus)
    parse = services.nlu.parse(asked.asked, vector)
    index = services.search.index
    if index is None:
        return [], asked.focus
    topic = parse.intent if parse.intent in ASK_INTENTS else None
    found = index.candidates(asked.focus, vector, topic=topic, tools=parse.entity_values("tool"))
    return found, asked.focus


def negative_queries(training_dir: Path = TRAIN_DIR) -> list[dict[str, object]]:
    data = load_training_data(training_dir)
    texts = sorted({e.text for e in data.examples if e.intent in NEGATIVE_INTENTS})
    step = max(1, len(texts) // MAX_NEGATIVES)
    return [{"text": t, "answers": [], "negative": True} for t in texts[::step]]


def train_ranker(services: Services, queries: Sequence[dict[str, object]]) -> Ranker:
    labelled = [*queries, *negative_queries()]
    rows = examples(labelled, lambda q: candidates_as_the_bot_searches(services, str(q["text"])))
    return train(rows)
