"""`comptoir kb eval`: how well the bot answers labelled merchant questions, measured through
the assistant itself (the path `comptoir reply` and Telegram take), not a side path.

For each query: the hits the bot logged, what the reply served first (top-1, hit@3, MRR
over the top 5) and, for
queries labelled `must_mention_any`, whether the composed reply contains one of those terms
(accent- and case-insensitive); for merchant questions nothing in the catalogue answers
(`answers: []`), how many got a direct answer (necessarily off target) rather than the
unsure turn. Each query is a new merchant in a temporary database, so no
conversation state leaks from one to the next.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from knowledge_base.evaluation import retrieval_metrics
from nlu.encoder import encode_query
from nlu.text import fold

from .assistant import Assistant
from .messages import Incoming
from .store.models import Message

EVAL_DIR = Path(__file__).resolve().parents[1] / "knowledge_base" / "eval"


@dataclass(frozen=True)
class Answered:
    """One query through the assistant: what it ranked and what the merchant read."""

    hits: list[str]
    reply: str
    cpu_seconds: float
    answered: bool | None = None  # the turn's log: True a direct answer, False unsure/none


def ask(assistant: Assistant, user: str, text: str) -> Answered:
    start = time.process_time()
    outcome = assistant.process(Incoming("eval", user, "text", text))
    cpu = time.process_time() - start
    assistant.mark_delivered(outcome.reply_ids)
    with assistant.services.db.session() as session:
        message = session.scalar(
            select(Message)
            .where(Message.merchant_id == outcome.merchant_id, Message.direction == "in")
            .order_by(Message.id.desc())
        )
        hits = [str(h["id"]) for h in (message.hits if message else [])]
        answered = message.answered if message else None
    reply = "\n".join(r.plain() for r in outcome.replies)
    return Answered(hits, reply, cpu, answered)


def mentions(reply: str, terms: Sequence[str]) -> bool:
    folded = f" {fold(reply)} "
    return any(f" {fold(term)} " in folded for term in terms if fold(term))


def evaluate(
    assistant: Assistant, queries: Sequence[dict[str, object]], users: str = "eval"
) -> dict[str, object]:
    """The report of `comptoir kb eval`. `users`: the prefix of the merchants' ids (query i
    is merchant "{users}-{i}"): several evaluations in one database need distinct ones."""
    answered = [ask(assistant, f"{users}-{i}", str(q["text"])) for i, q in enumerate(queries)]
    pairs = [(q, a) for q, a in zip(queries, answered, strict=True) if q.get("answers")]
    report = retrieval_metrics([q for q, _ in pairs], lambda i, _q: pairs[i][1].hits)
    labelled = [(q, a) for q, a in zip(queries, answered, strict=True) if q.get("must_mention_any")]
    missed = [
        {"text": q["text"], "must_mention_any": q["must_mention_any"], "reply": a.reply[:300]}
        for q, a in labelled
        if not mentions(a.reply, q["must_mention_any"])  # type: ignore[arg-type]
    ]
    lengths = sorted(len(a.reply) for a in answered)
    report["mention"] = {
        "n": len(labelled),
        "rate": round(1 - len(missed) / len(labelled), 4) if labelled else None,
        "misses": missed,
    }
    report["unanswerable"] = answered_sure(queries, answered)
    report["reply_chars_median"] = lengths[len(lengths) // 2] if lengths else 0
    turn_ms = 1000 * sum(a.cpu_seconds for a in answered) / len(answered)
    encoding_ms = _encoding_floor_ms(assistant, [str(q["text"]) for q in queries])
    report["cpu_ms_per_turn"] = round(turn_ms, 2)
    report["cpu_ms_per_encoding"] = round(encoding_ms, 2)
    report["turn_vs_encoding"] = round(turn_ms / encoding_ms, 2) if encoding_ms else None
    return report


def answered_sure(
    queries: Sequence[dict[str, object]], answered: Sequence[Answered]
) -> dict[str, object]:
    """Merchant questions the catalogue does not answer (`answers: []`, not a `negative`
    greeting): how many got a direct answer, which can only be off target (issue 10)."""
    pairs = [
        (q, a)
        for q, a in zip(queries, answered, strict=True)
        if not q.get("answers") and not q.get("negative")
    ]
    sure = [str(q["text"]) for q, a in pairs if a.answered]
    return {
        "n": len(pairs),
        "sure": len(sure),
        "rate": round(len(sure) / len(pairs), 4) if pairs else None,
        "sure_texts": sure,
    }


def _encoding_floor_ms(assistant: Assistant, texts: list[str]) -> float:
    """CPU time of one e5 query encoding of the same texts, in the same run: the floor a
    text turn is compared with (machines differ threefold in encoder speed)."""
    encoder = assistant.services.encoder
    start = time.process_time()
    for text in texts:
        encode_query(encoder, text)
    return 1000 * (time.process_time() - start) / max(len(texts), 1)
