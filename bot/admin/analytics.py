"""Figures for the back-office dashboard, computed by the database.

Figures come from aggregate queries (GROUP BY, COUNT, AVG, conditional SUMs): four passes
over the window's messages whatever the volume, plus small ones on checklists and diagnostics,
so the page stays fast with 100,000+ messages on SQLite as on PostgreSQL; only grouped rows
come back to Python. Days are UTC days (timestamps are stored in UTC): on PostgreSQL the
day is taken `AT TIME ZONE 'UTC'`, so the server's or the session's time zone changes
nothing, and on SQLite `date()` reads the stored UTC text.

The window is the last `days` days up to and including `today`. Checklist funnels follow the
runs started in the window (a cohort), with the steps done and the runs finished by the end of
the window, so each stage is a subset of the one before. Thumbs are counted on the questions
asked in the window (they are stored on the merchant's message the rated answer replied to).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, and_, case, cast, distinct, func, literal_column, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from knowledge_base.content_model import KnowledgeBase
from nlu.intents import TOPIC_LABELS
from nlu.text import fold

from ..store.models import ChecklistProgress, ChecklistRun, DiagnosticResult, Message

TOP_UNANSWERED = 10
STARTED_LABEL = "Commencée"
FINISHED_LABEL = "Terminée"
OVERALL_LABEL = "Score global"


@dataclass(frozen=True)
class IntentCount:
    intent: str
    label: str
    count: int


@dataclass(frozen=True)
class UnansweredQuestion:
    """Questions the bot missed, grouped by folded text; `text` is the commonest spelling."""

    text: str
    count: int
    last_date: date


@dataclass(frozen=True)
class FunnelStep:
    step_id: str
    title: str
    done: int


@dataclass
class ChecklistFunnel:
    checklist_id: str
    title: str
    started: int
    steps: list[FunnelStep]
    finished: int

    def stages(self) -> list[tuple[str, int]]:
        """(label, count) from start to finish, ready for `charts.funnel_chart`."""
        middle = [(f"{i}. {s.title}", s.done) for i, s in enumerate(self.steps, start=1)]
        return [(STARTED_LABEL, self.started), *middle, (FINISHED_LABEL, self.finished)]


@dataclass(frozen=True)
class AxisAverage:
    axis_id: str
    label: str
    average: float | None  # None: no completed diagnostic scored this axis
    count: int


@dataclass
class Dashboard:
    start: date  # first day of the window
    end: date  # last day, included
    messages_per_day: list[tuple[date, int]]  # merchants' incoming messages, every day
    active_merchants_per_day: list[tuple[date, int]]
    active_merchants: int  # distinct over the whole window
    intents: list[IntentCount]  # most frequent first
    answerable: int  # incoming text messages with an intent
    answered: int  # ... whose `answered` is not False
    feedback_up: int
    feedback_down: int
    unanswered: list[UnansweredQuestion]
    funnels: list[ChecklistFunnel]
    diagnostic_axes: list[AxisAverage]
    diagnostic_overall: AxisAverage
    diagnostics_completed: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def total_messages(self) -> int:
        return sum(count for _, count in self.messages_per_day)

    @property
    def answer_rate(self) -> float | None:
        """0..1, or None when nothing could be judged (not the same as 0 %)."""
        return self.answered / self.answerable if self.answerable else None

    @property
    def satisfaction(self) -> float | None:
        """Thumbs up over thumbs given, 0..1, or None without any feedback."""
        given = self.feedback_up + self.feedback_down
        return self.feedback_up / given if given else None


def _day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp column, in SQL."""
    if dialect == "sqlite":
        return func.date(column)  # stored as 'YYYY-MM-DD HH:MM:SS' in UTC
    if dialect == "postgresql":
        # A literal, not a bound parameter: SELECT and GROUP BY must be the same expression.
        return cast(func.timezone(literal_column("'UTC'"), column), Date)
    return cast(column, Date)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def dashboard(
    session: Session,
    kb: KnowledgeBase,
    *,
    days: int = 30,
    today: date | None = None,
    low_confidence: float = 0.45,
) -> Dashboard:
    """Every dashboard figure over the last `days` days (today included)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    end = today or datetime.now(UTC).date()
    start = end - timedelta(days=days - 1)
    since = datetime.combine(start, time.min, tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    dialect = session.get_bind().dialect.name

    in_window = and_(Message.created_at >= since, Message.created_at < until)
    incoming = and_(Message.direction == "in", Message.author == "merchant", in_window)

    daily = _daily(session, in_window, dialect)
    every_day = [start + timedelta(days=i) for i in range(days)]
    totals = [sum(row[i] for row in daily.values()) for i in range(_DAILY_COLUMNS)]
    active = session.scalar(select(func.count(distinct(Message.merchant_id))).where(incoming))
    axes, overall, completed = _diagnostic(session, kb, since, until)
    return Dashboard(
        start=start,
        end=end,
        messages_per_day=[(d, daily.get(d, _NO_ROW)[0]) for d in every_day],
        active_merchants_per_day=[(d, daily.get(d, _NO_ROW)[1]) for d in every_day],
        active_merchants=active or 0,
        intents=_intents(session, incoming),
        answerable=totals[2],
        answered=totals[2] - totals[3],
        feedback_up=totals[4],
        feedback_down=totals[5],
        unanswered=_unanswered(session, incoming, low_confidence),
        funnels=_funnels(session, kb, since, until),
        diagnostic_axes=axes,
        diagnostic_overall=overall,
        diagnostics_completed=completed,
    )


_DAILY_COLUMNS = 6
_NO_ROW = (0,) * _DAILY_COLUMNS


def _daily(
    session: Session, in_window: ColumnElement[bool], dialect: str
) -> dict[date, tuple[int, ...]]:
    """Day -> (incoming, active merchants, judged questions, missed, thumbs up, thumbs down).

    One pass over the window's messages: each figure is a conditional sum, so the rows are
    read once instead of once per figure (that is what costs on SQLite)."""
    incoming = and_(Message.direction == "in", Message.author == "merchant")
    judged = and_(incoming, Message.kind == "text", Message.intent.is_not(None))
    # The 👍/👎 buttons under an answer carry the question's id: feedback is stored on the
    # merchant's incoming message.
    rated = incoming

    def tally(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((condition, 1), else_=0))

    day = _day(Message.created_at, dialect).label("day")
    rows = session.execute(
        select(
            day,
            tally(incoming),
            func.count(distinct(case((incoming, Message.merchant_id)))),
            tally(judged),
            tally(and_(judged, Message.answered.is_(False))),
            tally(and_(rated, Message.feedback > 0)),
            tally(and_(rated, Message.feedback < 0)),
        )
        .where(in_window)
        .group_by(day)
    ).all()
    return {_as_date(row[0]): tuple(int(v or 0) for v in row[1:]) for row in rows}


def _intents(session: Session, incoming: ColumnElement[bool]) -> list[IntentCount]:
    count = func.count().label("n")
    rows = session.execute(
        select(Message.intent, count)
        .where(incoming, Message.intent.is_not(None))
        .group_by(Message.intent)
        .order_by(count.desc(), Message.intent)
    ).all()
    return [IntentCount(name, TOPIC_LABELS.get(name, name), int(n)) for name, n in rows]


def _unanswered(
    session: Session, incoming: ColumnElement[bool], low_confidence: float
) -> list[UnansweredQuestion]:
    """SQL groups identical texts; Python merges spellings that fold alike (accents, case and
    punctuation are beyond portable SQL), which only touches one row per distinct text."""
    rows = session.execute(
        select(Message.text, func.count(), func.max(Message.created_at))
        .where(
            incoming,
            Message.kind == "text",
            Message.text != "",
            or_(Message.answered.is_(False), Message.confidence < low_confidence),
        )
        .group_by(Message.text)
    ).all()
    groups: dict[str, dict[str, tuple[int, date]]] = {}
    for text, n, last in rows:
        key = fold(text) or text.strip().casefold()
        groups.setdefault(key, {})[text] = (int(n), _as_date(last))
    merged = []
    for variants in groups.values():
        shown = max(variants, key=lambda t: (variants[t][0], variants[t][1], t))
        merged.append(
            UnansweredQuestion(
                text=shown.strip(),
                count=sum(n for n, _ in variants.values()),
                last_date=max(d for _, d in variants.values()),
            )
        )
    merged.sort(key=lambda q: (-q.count, -q.last_date.toordinal(), q.text))
    return merged[:TOP_UNANSWERED]


def _funnels(
    session: Session, kb: KnowledgeBase, since: datetime, until: datetime
) -> list[ChecklistFunnel]:
    cohort = and_(ChecklistRun.started_at >= since, ChecklistRun.started_at < until)
    finished = func.coalesce(
        func.sum(
            case(
                (and_(ChecklistRun.finished_at.is_not(None), ChecklistRun.finished_at < until), 1),
                else_=0,
            )
        ),
        0,
    )
    runs = {
        cid: (int(n), int(f))
        for cid, n, f in session.execute(
            select(ChecklistRun.checklist_id, func.count(), finished)
            .where(cohort)
            .group_by(ChecklistRun.checklist_id)
        ).all()
    }
    done: dict[str, dict[str, int]] = {}
    for cid, step_id, n in session.execute(
        select(ChecklistProgress.checklist_id, ChecklistProgress.step_id, func.count())
        .join(
            ChecklistRun,
            and_(
                ChecklistRun.merchant_id == ChecklistProgress.merchant_id,
                ChecklistRun.checklist_id == ChecklistProgress.checklist_id,
            ),
        )
        .where(cohort, ChecklistProgress.status == "done", ChecklistProgress.updated_at < until)
        .group_by(ChecklistProgress.checklist_id, ChecklistProgress.step_id)
    ).all():
        done.setdefault(cid, {})[step_id] = int(n)

    funnels = []
    for checklist in kb.checklists.values():
        counts = done.get(checklist.id, {})
        started, ended = runs.get(checklist.id, (0, 0))
        steps = [FunnelStep(s.id, s.title, counts.get(s.id, 0)) for s in checklist.steps]
        funnels.append(ChecklistFunnel(checklist.id, checklist.title, started, steps, ended))
    for cid in sorted(set(runs) - set(kb.checklists)):  # content removed since: still counted
        steps = [FunnelStep(s, s, n) for s, n in sorted(done.get(cid, {}).items())]
        funnels.append(ChecklistFunnel(cid, cid, runs[cid][0], steps, runs[cid][1]))
    return funnels


def _diagnostic(
    session: Session, kb: KnowledgeBase, since: datetime, until: datetime
) -> tuple[list[AxisAverage], AxisAverage, int]:
    axes = list(kb.diagnostic.axes) if kb.diagnostic else []
    keys = [axis.id for axis in axes] + ["overall"]
    columns: list[Any] = [func.count()]
    for key in keys:
        score = DiagnosticResult.scores[key].as_float()
        columns += [func.avg(score), func.count(score)]
    when = func.coalesce(DiagnosticResult.completed_at, DiagnosticResult.created_at)
    row = session.execute(
        select(*columns).where(DiagnosticResult.completed.is_(True), when >= since, when < until)
    ).one()
    labels = {axis.id: axis.label for axis in axes} | {"overall": OVERALL_LABEL}
    averages = [
        AxisAverage(
            key,
            labels[key],
            float(row[1 + 2 * i]) if row[1 + 2 * i] is not None else None,
            int(row[2 + 2 * i]),
        )
        for i, key in enumerate(keys)
    ]
    return averages[:-1], averages[-1], int(row[0])


def _cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula is quoted (labels come from merchants)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _percent(rate: float | None) -> str:
    return "" if rate is None else f"{100 * rate:.1f}"


def to_csv(d: Dashboard) -> str:
    """One long table (section, date, clé, libellé, valeur): opens in any spreadsheet and
    keeps every figure of the page, with ISO dates and '.' decimals."""
    rows: list[tuple[object, ...]] = [
        ("periode", "", "debut", "Début", d.start.isoformat()),
        ("periode", "", "fin", "Fin", d.end.isoformat()),
        ("synthese", "", "messages", "Messages reçus", d.total_messages),
        ("synthese", "", "marchands_actifs", "Commerçants actifs", d.active_merchants),
        ("synthese", "", "questions", "Questions comprises", d.answerable),
        ("synthese", "", "repondues", "Questions répondues", d.answered),
        ("synthese", "", "taux_reponse", "Taux de réponse (%)", _percent(d.answer_rate)),
        ("synthese", "", "avis_positifs", "Avis positifs", d.feedback_up),
        ("synthese", "", "avis_negatifs", "Avis négatifs", d.feedback_down),
        ("synthese", "", "satisfaction", "Satisfaction (%)", _percent(d.satisfaction)),
        ("synthese", "", "diagnostics", "Diagnostics terminés", d.diagnostics_completed),
    ]
    active = dict(d.active_merchants_per_day)
    for day, count in d.messages_per_day:
        rows.append(("jour", day.isoformat(), "messages", "Messages reçus", count))
        rows.append(
            ("jour", day.isoformat(), "marchands_actifs", "Commerçants actifs", active.get(day, 0))
        )
    rows += [("intention", "", i.intent, i.label, i.count) for i in d.intents]
    rows += [
        ("question_sans_reponse", q.last_date.isoformat(), "", q.text, q.count)
        for q in d.unanswered
    ]
    for funnel in d.funnels:
        stages = [("commencee", STARTED_LABEL, funnel.started)]
        stages += [(s.step_id, s.title, s.done) for s in funnel.steps]
        stages.append(("terminee", FINISHED_LABEL, funnel.finished))
        rows += [
            ("checklist", "", f"{funnel.checklist_id}:{key}", f"{funnel.title} — {label}", n)
            for key, label, n in stages
        ]
    for axis in [*d.diagnostic_axes, d.diagnostic_overall]:
        average = "" if axis.average is None else f"{axis.average:.1f}"
        rows.append(("diagnostic", "", axis.axis_id, axis.label, average))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("section", "date", "clé", "libellé", "valeur"))
    writer.writerows(tuple(_cell(v) for v in row) for row in rows)
    return out.getvalue()
