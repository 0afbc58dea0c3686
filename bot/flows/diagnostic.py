"""The self-diagnostic: one question at a time with buttons, resumable, scored per axis.

The answers are saved after every button (an unfinished `DiagnosticResult`), so a merchant
who leaves comes back to the next unanswered question. Button data names the question index
and option id; an answer to anything but the current question is stale.

On Telegram each answer turns the pressed question into the next one (edited in place), so
the next question starts with the answer just recorded: it stays in view. A second press on
an already answered question (a double tap) shows the same thing again, which Telegram
leaves unchanged.
"""

from __future__ import annotations

from knowledge_base.content_model import Diagnostic
from knowledge_base.lexical import tokens

from ..context import Turn
from ..messages import Button, Reply, esc, short
from ..question_shape import within
from ..store import rows
from ..store.rows import DiagnosticRow

BAR_WIDTH = 10
# Words that ask for the diagnostic itself ("faire le test", "où en est ma boutique niveau
# numérique", "audit digital gratuit"). A message the intent model reads as the diagnostic
# but with other words asks something else too: "tester le niveau informatique de ma
# secrétaire, un test officiel ?" is about Pix, not an 18-question evaluation of the shop.
_ASKING = frozenset(
    tokens(
        "diagnostic diag autodiagnostic auto test tests tester faire passer lancer lance quiz "
        "quizz questionnaire remplir commencer recommencer reprendre refaire voir resultat "
        "maturite bilan point numerique digital digitalise niveau evaluer evalue evaluez "
        "evaluation autoevaluation audit score calculer note noter check up checkup etat lieux "
        "situer situe retard traine equipe jour assez presence ligne internet minutes mesurer "
        "savoir ou en est suis cote mon ma mes boutique commerce entreprise magasin gratuit "
        "svp stp ok veux voudrais pret fais maintenant bien si bot 5 take the assessment "
        "assess my business"
    )
)
PLAN_THRESHOLD = 70


def bar(score: int) -> str:
    filled = round(score / 100 * BAR_WIDTH)
    return "█" * filled + "░" * (BAR_WIDTH - filled)


def scores(diagnostic: Diagnostic, answers: dict[str, str]) -> dict[str, int]:
    """Axis -> 0..100: answered points over the best possible, per axis."""
    got: dict[str, int] = {}
    best: dict[str, int] = {}
    for question in diagnostic.questions:
        best[question.axis] = best.get(question.axis, 0) + question.max_score
        option = question.option(answers.get(question.id, ""))
        got[question.axis] = got.get(question.axis, 0) + (option.score if option else 0)
    return {
        axis.id: round(100 * got.get(axis.id, 0) / best[axis.id]) if best.get(axis.id) else 0
        for axis in diagnostic.axes
    }


def _current(turn: Turn) -> DiagnosticRow | None:
    return rows.open_diagnostic(turn.connection, turn.services.db.driver, turn.merchant.id)


def _save_answers(turn: Turn, result: DiagnosticRow, answers: dict[str, str]) -> None:
    """Every press records its answer: one Core UPDATE."""
    rows.save_answers(turn.connection, turn.services.db.driver, result, answers)


def asks_for_it_only(message: str) -> bool:
    """Every word of the message asks for the diagnostic (no other subject in it)."""
    return within(message, _ASKING)


def start(turn: Turn) -> list[Reply]:
    diagnostic = turn.kb.diagnostic
    if diagnostic is None:
        return [Reply(turn.t("diag_unavailable"))]
    result = _current(turn)
    replies = []
    if result is None:
        result = rows.new_diagnostic(turn.connection, turn.services.db.driver, turn.merchant.id)
        replies.append(
            Reply(turn.t("diag_intro", title=esc(diagnostic.title), intro=esc(diagnostic.intro)))
        )
    else:
        replies.append(Reply(turn.t("diag_resume")))
    replies.append(_next_question(turn, diagnostic, result))
    return replies


def _next_question(
    turn: Turn, diagnostic: Diagnostic, result: DiagnosticRow, answered: int | None = None
) -> Reply:
    """The first unanswered question (or the result); `answered`: the index of a question
    whose recorded answer is recalled above it."""
    answers = result.answers
    for index, question in enumerate(diagnostic.questions):
        if question.id not in answers:
            turn.set_flow("diagnostic", result=result.id, question=index)
            buttons = tuple(
                (Button(option.label, f"dg:a:{index}:{option.id}"),) for option in question.options
            )
            text = turn.t(
                "diag_question",
                n=index + 1,
                total=len(diagnostic.questions),
                text=esc(question.text),
            )
            if answered is not None:
                text = _recalled(turn, diagnostic, answers, answered) + "\n\n" + text
            return Reply(text, buttons)
    return finish(turn, diagnostic, result)


def _recalled(turn: Turn, diagnostic: Diagnostic, answers: dict[str, str], index: int) -> str:
    question = diagnostic.questions[index]
    option = question.option(answers.get(question.id, ""))
    return turn.t("diag_answered", n=index + 1, answer=esc(option.label if option else ""))


def answer(turn: Turn, index_text: str, option_id: str) -> list[Reply]:
    diagnostic = turn.kb.diagnostic
    result = _current(turn)
    if diagnostic is None or result is None:
        return [Reply(turn.t("stale_button")), *start(turn)]
    expected = turn.flow_value("question") if turn.merchant.flow == "diagnostic" else None
    if not index_text.isdigit() or int(index_text) >= len(diagnostic.questions):
        return [Reply(turn.t("stale_button")), _next_question(turn, diagnostic, result)]
    index = int(index_text)
    question = diagnostic.questions[index]
    if index != expected and question.id in result.answers:
        # Answered already (a double tap, an older copy of the question): the recorded
        # answer and the current question, in place of the pressed message.
        return [_next_question(turn, diagnostic, result, answered=index).replacing()]
    if index != expected or question.option(option_id) is None:
        return [Reply(turn.t("stale_button")), _next_question(turn, diagnostic, result)]
    _save_answers(turn, result, {**result.answers, question.id: option_id})
    return [_next_question(turn, diagnostic, result, answered=index).replacing()]


def finish(turn: Turn, diagnostic: Diagnostic, result: DiagnosticRow) -> Reply:
    axis_scores = scores(diagnostic, result.answers)
    overall = round(sum(axis_scores.values()) / max(len(axis_scores), 1))
    driver = turn.services.db.driver
    previous = rows.previous_scores(turn.connection, driver, turn.merchant.id, result.id)
    rows.complete(turn.connection, driver, result.id, {**axis_scores, "overall": overall})
    turn.set_flow(None)
    lines = [turn.t("diag_result"), ""]
    for axis in diagnostic.axes:
        score = axis_scores[axis.id]
        band = diagnostic.band(score)
        lines.append(
            f"<code>{bar(score)}</code> {score:>3} {esc(axis.label)}"
            + (f" — {esc(band.label)}" if band else "")
        )
    lines += ["", turn.t("diag_overall", score=overall)]
    if previous:
        delta = overall - int(previous.get("overall", 0))
        lines.append(turn.t("diag_compare", delta=f"{delta:+d} points"))
    weak = sorted(
        (a for a in diagnostic.axes if axis_scores[a.id] < PLAN_THRESHOLD),
        key=lambda a: axis_scores[a.id],
    )
    buttons: list[tuple[Button, ...]] = []
    if weak:
        lines += ["", turn.t("diag_plan")]
        seen: set[str] = set()
        for axis in weak[:3]:
            band = diagnostic.band(axis_scores[axis.id])
            advice = f" {esc(band.advice)}" if band and band.advice else ""
            lines.append(f"• <b>{esc(axis.label)}</b>.{advice}")
            for checklist_id in axis.checklists[:1]:
                checklist = turn.kb.checklists.get(checklist_id)
                if checklist and checklist.id not in seen:
                    seen.add(checklist.id)
                    buttons.append(
                        (Button(short(f"📋 {checklist.title}"), f"ck:o:{checklist.id}"),)
                    )
            for guide_id in axis.guides[:1]:
                guide = turn.kb.guides.get(guide_id)
                if guide and guide.id not in seen:
                    seen.add(guide.id)
                    buttons.append((Button(short(f"📚 {guide.title}"), f"gd:{guide.id}"),))
    else:
        lines += ["", turn.t("diag_all_good")]
    return Reply("\n".join(lines), tuple(buttons))
