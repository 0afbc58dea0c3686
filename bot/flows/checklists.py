"""Checklists, one step at a time: Fait ✅ / Plus tard / Expliquer / Passer.

Progress lives in `checklist_progress` (one row per step) and `checklist_runs`, so a restart
never loses it. Button data carries the checklist id and the step index; both are checked
against the current content before anything is written.

A step's buttons lead to the next step in place of the pressed one (Telegram edits the
message): the next step starts with what became of the previous one ("✅ Étape 2 faite :
…"), and "Expliquer" unfolds the step where it is. The list of checklists (`ck:m:`, "menu")
gives way to the chosen one; the same checklist opened from elsewhere (`ck:o:`: the
diagnostic's plan, /progression, an answer) comes as a new message and leaves that in view.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

from sqlalchemy import select

from knowledge_base.content_model import Checklist
from knowledge_base.lexical import tokens
from knowledge_base.search import Hit

from ..answers import ABSTAIN_BELOW
from ..context import Turn
from ..messages import Button, Reply, esc, short
from ..question_shape import within
from ..store import progress as progress_store
from ..store.models import ChecklistRun, utcnow

FINISHED_STATUSES = ("done", "skipped")
REMINDER_DELAY = timedelta(days=3)


# Words that ask for a checklist without naming one ("je veux la check list", "mes étapes",
# "un plan pour mon commerce").
_ASKING = frozenset(
    tokens(
        "checklist checklists check list liste listes plan plans etape etapes ouvrir voir "
        "veux voudrais vouloir donne donner montre montrer avoir besoin aide "
        "commerce commerces boutique magasin entreprise activite"
    )
)


def named_in(message: str, checklists: Iterable[Checklist]) -> str | None:
    """The checklist a message names by a word of its id or title ("checklist rgpd",
    "check list newsletter pour ma boutique"), if exactly one shares the most words with it.
    Searching alone missed these: "checklist site vitrine" ranks the site guide first."""
    asked = set(tokens(message)) - _ASKING
    if not asked:
        return None
    overlap = {
        c.id: len(asked & (set(tokens(c.id.replace("-", " ") + " " + c.title)) - _ASKING))
        for c in checklists
    }
    best = max(overlap.values(), default=0)
    winners = [checklist_id for checklist_id, n in overlap.items() if n == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


# A checklist the search ranks first for a message that names none by its words opens when
# the learned ranker trusts it (the reply's own "sure" level, ABSTAIN_BELOW) and trusts no
# other checklist nearly as much: "une lettre d'info à mes clients, marche à suivre
# étape par étape" opens the newsletter plan (1.0 against 0.16), "je voudrais suivre un plan
# étape par étape" rates three plans alike (0.94, 0.92, 0.92) and lists them, "les étapes pour
# me lancer" (0.78, "lancer" shared with the newsletter plan's title) lists them. Without a
# ranker (probabilities 0), a fused score above 1.0 as before.
SEARCHED_MARGIN = 0.3
SEARCHED_SCORE = 1.0


def searched(hits: Sequence[Hit]) -> str | None:
    """The checklist id to open from the search's `hits`, if one stands out."""
    if not hits or hits[0].kind != "checklist":
        return None
    best = hits[0]
    if best.confidence <= 0.0:
        return best.id if best.score > SEARCHED_SCORE else None
    others = (h.confidence for h in hits[1:] if h.kind == "checklist")
    runner_up = max(others, default=0.0)
    if best.confidence >= ABSTAIN_BELOW and best.confidence - runner_up >= SEARCHED_MARGIN:
        return best.id
    return None


def asks_for_none_in_particular(message: str) -> bool:
    """ "mes checklists", "checklist": every word only asks for a checklist."""
    return within(message, _ASKING)


def _statuses(turn: Turn, checklist_id: str) -> dict[str, str]:
    driver = turn.services.db.driver
    return progress_store.statuses(turn.connection, driver, turn.merchant.id, checklist_id)


def done_count(checklist: Checklist, statuses: dict[str, str]) -> int:
    return sum(1 for step in checklist.steps if statuses.get(step.id) == "done")


def list_checklists(turn: Turn) -> list[Reply]:
    buttons = []
    for checklist in turn.kb.checklists.values():
        statuses = _statuses(turn, checklist.id)
        label = checklist.title
        if statuses:
            label += " · " + turn.t(
                "checklist_progress",
                done=done_count(checklist, statuses),
                total=len(checklist.steps),
            )
        buttons.append((Button(short(label), f"ck:m:{checklist.id}"),))
    return [Reply(turn.t("checklists_title"), tuple(buttons))]


def open_checklist(turn: Turn, checklist_id: str, from_menu: bool = False) -> list[Reply]:
    """The introduction, or the next step once started; `from_menu`: in place of the list."""
    checklist = turn.kb.checklists.get(checklist_id)
    if checklist is None:
        return [Reply(turn.t("stale_button")), *list_checklists(turn)]
    statuses = _statuses(turn, checklist.id)
    if not statuses:
        intro = turn.t(
            "checklist_intro",
            title=esc(checklist.title),
            goal=esc(checklist.goal),
            count=len(checklist.steps),
        )
        reply = Reply(intro, ((Button(turn.t("btn_start"), f"ck:g:{checklist.id}:0"),),))
    else:
        reply = show_next(turn, checklist, statuses, after=-1)
    return [reply.replacing() if from_menu else reply]


def show_next(
    turn: Turn, checklist: Checklist, statuses: dict[str, str], after: int, note: str = ""
) -> Reply:
    """The next unfinished step after index `after` (wrapping), or the end; `note` (what
    became of the step just pressed) goes above it."""
    count = len(checklist.steps)
    for offset in range(1, count + 1):
        index = (after + offset) % count
        if statuses.get(checklist.steps[index].id) not in FINISHED_STATUSES:
            return step_reply(turn, checklist, index, note)
    driver = turn.services.db.driver
    progress_store.finish_run(turn.connection, driver, turn.merchant.id, checklist.id, utcnow())
    turn.set_flow(None)
    finished = turn.t("checklist_finished", title=esc(checklist.title))
    return Reply(f"{note}\n\n{finished}" if note else finished)


def step_reply(turn: Turn, checklist: Checklist, index: int, note: str = "") -> Reply:
    step = checklist.steps[index]
    turn.set_flow("checklist", checklist=checklist.id, step=index)
    parts = [note] if note else []
    parts += [
        turn.t(
            "step",
            n=index + 1,
            total=len(checklist.steps),
            title=esc(step.title),
            why=esc(step.why),
            how=esc(step.how),
            time=esc(step.time),
        )
    ]
    guides = [turn.kb.guides[g] for g in step.guides if g in turn.kb.guides]
    tools = [turn.kb.tools[t] for t in step.tools if t in turn.kb.tools]
    if guides:
        parts.append(turn.t("step_guides", links=", ".join(esc(g.title) for g in guides[:2])))
    if tools:
        parts.append(
            turn.t(
                "step_tools",
                links=", ".join(f'<a href="{esc(t.url)}">{esc(t.name)}</a>' for t in tools[:4]),
            )
        )
    prefix = f"{checklist.id}:{index}"
    buttons = (
        (
            Button(turn.t("btn_done"), f"ck:d:{prefix}"),
            Button(turn.t("btn_later"), f"ck:l:{prefix}"),
        ),
        (
            Button(turn.t("btn_explain"), f"ck:e:{prefix}"),
            Button(turn.t("btn_skip"), f"ck:s:{prefix}"),
        ),
    )
    return Reply("\n\n".join(parts), buttons)


def explained(turn: Turn, checklist: Checklist, index: int) -> Reply:
    """The step unfolded where it is: its text, when it counts as done, guides to read."""
    step = checklist.steps[index]
    shown = step_reply(turn, checklist, index)
    text = shown.html + "\n\n" + turn.t("step_explain", done_when=esc(step.done_when))
    guides = [turn.kb.guides[g] for g in step.guides if g in turn.kb.guides]
    buttons = [(Button(short(g.title), f"gd:{g.id}"),) for g in guides[:2]]
    prefix = f"{checklist.id}:{index}"
    buttons += [
        (
            Button(turn.t("btn_done"), f"ck:d:{prefix}"),
            Button(turn.t("btn_later"), f"ck:l:{prefix}"),
        ),
        (Button(turn.t("btn_skip"), f"ck:s:{prefix}"),),
    ]
    return Reply(text, tuple(buttons))


def on_button(turn: Turn, action: str, checklist_id: str, index_text: str) -> list[Reply]:
    """`ck:<action>:<checklist>:<step index>`: validated, then applied."""
    checklist = turn.kb.checklists.get(checklist_id)
    if checklist is None or not index_text.isdigit() or int(index_text) >= len(checklist.steps):
        return [Reply(turn.t("stale_button")), *list_checklists(turn)]
    index = int(index_text)
    step = checklist.steps[index]
    connection, driver, now = turn.connection, turn.services.db.driver, utcnow()
    if not progress_store.touch_run(connection, driver, turn.merchant.id, checklist.id, now):
        # the first step pressed: the run starts
        progress_store.start_run(connection, driver, turn.merchant.id, checklist.id, now)
    if action == "g":  # go: show this step
        return [step_reply(turn, checklist, index).replacing()]
    if action == "e":
        return [explained(turn, checklist, index).replacing()]
    status = {"d": "done", "l": "later", "s": "skipped"}.get(action)
    if status is None:
        return [Reply(turn.t("stale_button")), *list_checklists(turn)]
    _set_status(turn, checklist.id, step.id, status)
    statuses = _statuses(turn, checklist.id)
    note = turn.t(f"step_noted_{status}", n=index + 1, title=esc(step.title))
    reply = show_next(turn, checklist, statuses, after=index, note=note)
    if status == "later":
        remind = (Button(turn.t("btn_remind"), f"rm:{checklist.id}"),)
        reply = Reply(reply.html, (*reply.buttons, remind))
    return [reply.replacing()]


def _set_status(turn: Turn, checklist_id: str, step_id: str, status: str) -> None:
    connection, driver, merchant_id = turn.connection, turn.services.db.driver, turn.merchant.id
    now = utcnow()
    progress_store.set_status(connection, driver, merchant_id, checklist_id, step_id, status, now)


def set_reminder(turn: Turn, checklist_id: str) -> list[Reply]:
    if checklist_id not in turn.kb.checklists:
        return [Reply(turn.t("stale_button"))]
    now = utcnow()
    driver = turn.services.db.driver
    at = now + REMINDER_DELAY
    progress_store.remind_run(turn.connection, driver, turn.merchant.id, checklist_id, now, at)
    turn.set_merchant(reminders=True)
    return [Reply(turn.t("remind_set"))]


def progress(turn: Turn) -> list[Reply]:
    runs = turn.session.scalars(
        select(ChecklistRun)
        .where(ChecklistRun.merchant_id == turn.merchant.id)
        .order_by(ChecklistRun.started_at)
    )
    lines, buttons = [], []
    for run in runs:
        checklist = turn.kb.checklists.get(run.checklist_id)
        if checklist is None:
            continue
        done = done_count(checklist, _statuses(turn, checklist.id))
        mark = " ✅" if done == len(checklist.steps) else ""
        lines.append(
            f"• {esc(checklist.title)} : "
            f"{turn.t('checklist_progress', done=done, total=len(checklist.steps))}{mark}"
        )
        if done < len(checklist.steps):
            buttons.append(
                (
                    Button(
                        short(f"{turn.t('btn_resume')} : {checklist.title}"), f"ck:o:{checklist.id}"
                    ),
                )
            )
    if not lines:
        return [Reply(turn.t("progress_none"))]
    return [Reply(turn.t("progress_title") + "\n" + "\n".join(lines), tuple(buttons))]


def due_reminders(session, now=None, limit: int = 200) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    """(merchant id, checklist id) pairs whose reminder is due; clears them. The rows are
    locked (`SKIP LOCKED`): workers running this at once each take different ones. The
    caller queues the reminders in the outbox in the same transaction, so a reminder cleared
    here is never lost."""
    now = now or utcnow()
    runs = list(
        session.scalars(
            select(ChecklistRun)
            .where(
                ChecklistRun.remind_at.is_not(None),
                ChecklistRun.remind_at <= now,
                ChecklistRun.finished_at.is_(None),
            )
            .order_by(ChecklistRun.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for run in runs:
        run.remind_at = None
    return [(run.merchant_id, run.checklist_id) for run in runs]


def reminder_reply(turn: Turn, checklist_id: str) -> Reply | None:
    checklist = turn.kb.checklists.get(checklist_id)
    if checklist is None:
        return None
    left = len(checklist.steps) - done_count(checklist, _statuses(turn, checklist_id))
    return Reply(
        turn.t("reminder", left=left, title=esc(checklist.title)),
        ((Button(turn.t("btn_resume"), f"ck:o:{checklist_id}"),),),
    )
