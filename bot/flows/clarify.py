"""Unsure turns: "Vouliez-vous dire…" with the three best candidate answers (the first one's
sentence that best fits the question quoted above them), then the likeliest topics, then an
adviser. The candidate the merchant presses is answered and kept as a label (`AnswerLabel`):
the question and its right answer, data for the ranker.

Free text that would change the conversation's state (hand-off today) asks first; the
command (/humain) acts at once.
"""

from __future__ import annotations

import numpy as np

from knowledge_base.content_model import Guide
from knowledge_base.search import Hit
from knowledge_base.sentences import Sentence, split_sentences
from nlu.intents import TOPIC_LABELS
from nlu.model import ParseResult

from .. import answers
from ..context import Turn
from ..messages import Button, Reply, esc, in_place, short
from ..passage_choice import MIN_ALONE_CHARS, reads_alone, scored_sentences
from ..store.models import AnswerLabel, Message

CANDIDATES = 3
TOPICS = 2
# Below this ranker probability of the best candidate, the catalogue most likely has nothing
# on the question: the unsure turn says so in one sentence before the buttons (issue 10).
# Out of fold on train (benchmarks/results/ranker-oof-abstain-session10.json), best
# candidate below 0.5 / 0.6 / 0.7: 5 / 9 / 14 of the 59 unanswerable questions, 1 / 5 / 8 of
# the 1053 whose right answer is among the three offered.
FAR_BELOW = 0.6
KIND_ICONS = {"guide": "📖", "faq": "❓", "checklist": "📋", "tool": "🧰"}


def unsure(turn: Turn, text: str, vector: np.ndarray, parse: ParseResult) -> list[Reply]:
    """Below the intent's confidence threshold: the knowledge base's item if the ranker is
    sure of it, otherwise candidates to choose from."""
    hits = turn.services.search.search(
        text, vector, topic=None, k=CANDIDATES, intents=parse.intent_scores()
    )
    answers.log_hits(turn, hits)
    named = parse.entity_values("tool")
    sure = answers.sure_answer(turn, text, vector, hits, answers.SURE_WHEN_INTENT_UNSURE, named)
    return sure or offer(turn, text, hits, parse)


def offer(turn: Turn, text: str, hits: list[Hit], parse: ParseResult) -> list[Reply]:
    """Candidates as buttons, recorded in the flow state, then topics, then an adviser."""
    turn.log["answered"] = False
    candidates = [[h.kind, h.id] for h in hits if _known(turn, h)][:CANDIDATES]
    turn.set_flow(
        "clarify",
        pending_question=text,
        candidates=candidates,
        message_id=turn.incoming_message_id,
    )
    rows: list[tuple[Button, ...]] = []
    for i, (kind, doc_id) in enumerate(candidates):
        label = f"{KIND_ICONS.get(kind, '')} {_title(turn, kind, doc_id)}".strip()
        rows.append((Button(short(label), f"cl:{i}"),))
    topics = [r.intent for r in parse.ranking if r.intent in TOPIC_LABELS][:TOPICS]
    rows += [(Button(f"🗂 {TOPIC_LABELS[t]}", f"tp:{t}"),) for t in topics]
    rows.append((Button(turn.t("clarify_human"), "hf:start"),))
    key = "clarify_candidates" if candidates else "clarify"
    if far(hits):  # said plainly, in place of "Vouliez-vous dire…"
        return [Reply(turn.t(key.replace("clarify", "clarify_far", 1)), tuple(rows))]
    closest = preview(turn, text, *candidates[0]) if candidates else None
    return [Reply(closest or turn.t(key), tuple(rows))]


def far(hits: list[Hit]) -> bool:
    """The ranker (in service: a probability above 0) rates even the best candidate below
    FAR_BELOW: no item answers, the merchant should be told so plainly."""
    return bool(hits) and 0.0 < hits[0].confidence < FAR_BELOW


def preview(turn: Turn, text: str, kind: str, doc_id: str) -> str | None:
    """The unsure turn's text with the likeliest answer's sentence that best fits the
    question, quoted with its sources: when the guess is right, the merchant reads the answer
    without a press; when it is not, the quote says which answer the buttons begin with."""
    kb = turn.kb
    if kind == "faq":
        entry = kb.faq[doc_id]
        title, sources, verified = entry.question, entry.sources, entry.verified
        parts = split_sentences([entry.answer])
    elif kind == "guide":
        guide = kb.guides[doc_id]
        title, sources, verified = guide.title, guide.sources, guide.verified
        parts = quotable_sentences(guide)
    else:
        return None
    sentence = fitting_sentence(text, parts)
    if sentence is None:
        return None
    return turn.t(
        "clarify_preview",
        title=esc(title),
        sentence=esc(sentence),
        sources=answers.sources_line(turn, sources, verified),
    )


def quotable_sentences(guide: Guide) -> tuple[tuple[Sentence, ...], ...]:
    """The guide's sentences by part (`Guide.sentences`), the sections whose sentences
    mislead quoted alone emptied ("Les pièges" lists mistakes, not advice)."""
    quotable = [True, *(not answers.NOT_QUOTED.match(s.heading) for s in guide.sections)]
    kept = zip(guide.sentences, quotable, strict=True)
    return tuple(part if ok else () for part, ok in kept)


# A quoted sentence shares at least this many of the question's word stems, else the
# answer's first sentences (the answer leads) are quoted.
PREVIEW_STEMS = 2
PREVIEW_CHARS = 320


def fitting_sentence(question: str, parts: tuple[tuple[Sentence, ...], ...]) -> str | None:
    """The sentence of `parts` that holds most of the question's rare words, reads alone and
    fits a short quote; else the text's first sentences ("Non." goes on to the reason);
    None when even those would not fit."""
    for found in scored_sentences(question, parts):  # best first
        enough = len(found.shared) >= PREVIEW_STEMS
        if enough and reads_alone(found.text) and len(found.text) <= PREVIEW_CHARS:
            return found.text
    lead = ""
    for sentence in (text for part in parts for text, _ in part):
        lead = f"{lead} {sentence}".strip()
        if len(lead) >= MIN_ALONE_CHARS:
            break
    return lead if lead and len(lead) <= PREVIEW_CHARS else None


def choose(turn: Turn, index: int) -> list[Reply]:
    """The merchant pressed candidate `index`: answer with it and keep the label."""
    candidates = turn.flow_value("candidates") or []
    question = str(turn.flow_value("pending_question") or "")
    if turn.merchant.flow != "clarify" or not 0 <= index < len(candidates):
        return [Reply(turn.t("stale_button"))]
    kind, doc_id = candidates[index]
    message_id = turn.flow_value("message_id")
    turn.set_flow(None)
    message = turn.session.get(Message, message_id) if isinstance(message_id, int) else None
    if message is not None and message.merchant_id == turn.merchant.id and question:
        turn.session.add(
            AnswerLabel(
                message_id=message.id,
                text=question[:1000],
                doc_kind=kind,
                doc_id=doc_id,
                source="clarify",
            )
        )
    # The "Vouliez-vous dire…" menu gives way to the chosen answer (the question stays above).
    return in_place(answer_with(turn, kind, doc_id))


def answer_with(turn: Turn, kind: str, doc_id: str) -> list[Reply]:
    """One knowledge-base item as the answer (the content may have changed since)."""
    kb = turn.kb
    if kind == "guide" and doc_id in kb.guides:
        return [answers.guide_reply(turn, kb.guides[doc_id])]
    if kind == "faq" and doc_id in kb.faq:
        return [answers.faq_reply(turn, kb.faq[doc_id])]
    if kind == "tool" and doc_id in kb.tools:
        tool = kb.tools[doc_id]
        hit = Hit(tool.id, "tool", tool.name, tool.description, 1.0, (tool.url,))
        return answers.answer_alternatives(turn, [], [hit])
    if kind == "checklist" and doc_id in kb.checklists:
        from . import checklists

        return checklists.open_checklist(turn, doc_id)
    return [Reply(turn.t("stale_button"))]


def confirm_handoff(turn: Turn, question: str) -> list[Reply]:
    """Free text understood as "I want an adviser": ask before handing the chat over."""
    turn.set_flow("handoff_confirm", pending_question=question)
    buttons = (
        (Button(turn.t("handoff_confirm_yes"), "hf:start"),),
        (Button(turn.t("handoff_confirm_no"), "hf:no"),),
    )
    return [Reply(turn.t("handoff_confirm"), buttons)]


def _known(turn: Turn, hit: Hit) -> bool:
    kb = turn.kb
    store = {"guide": kb.guides, "faq": kb.faq, "tool": kb.tools, "checklist": kb.checklists}
    return hit.id in store.get(hit.kind, {})


def _title(turn: Turn, kind: str, doc_id: str) -> str:
    kb = turn.kb
    if kind == "guide":
        return kb.guides[doc_id].title
    if kind == "faq":
        return kb.faq[doc_id].question
    if kind == "tool":
        return kb.tools[doc_id].name
    return kb.checklists[doc_id].title
