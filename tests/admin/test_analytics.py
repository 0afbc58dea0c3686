"""Dashboard figures on real rows (SQLite and PostgreSQL) and the SVG charts that show them.

Every expected figure below is counted by hand from the rows that `_populate` writes.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.admin import charts
from bot.admin.analytics import (
    AxisAverage,
    Dashboard,
    IntentCount,
    UnansweredQuestion,
    dashboard,
    to_csv,
)
from bot.store.database import Database
from bot.store.models import (
    ChecklistProgress,
    ChecklistRun,
    DiagnosticResult,
    Merchant,
    Message,
)
from knowledge_base.content_model import KnowledgeBase
from knowledge_base.loader import load_knowledge_base

CONTENT = Path(__file__).resolve().parents[2] / "knowledge_base" / "content"
TODAY = date(2025, 6, 30)
SVG = "{http://www.w3.org/2000/svg}"
SCRIPT = "Café <script>alert(1)</script>"


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0, month: int = 6) -> datetime:
    return datetime(2025, month, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    kb, problems = load_knowledge_base(CONTENT)
    assert not problems
    return kb


@pytest.fixture()
def db(database_url: str):  # type: ignore[no-untyped-def]
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


def _populate(db: Database) -> None:
    with db.session() as s:
        m1, m2, m3, m4 = (
            Merchant(channel="test", external_id=str(i), first_name=f"M{i}") for i in range(1, 5)
        )
        s.add_all([m1, m2, m3, m4])
        s.flush()

        def incoming(merchant: Merchant, when: datetime, txt: str, **kw: object) -> Message:
            return Message(
                merchant_id=merchant.id, direction="in", author="merchant", text=txt,
                created_at=when, **kw,
            )  # fmt: skip

        def bot(when: datetime, feedback: int | None, author: str = "bot") -> Message:
            return Message(
                merchant_id=m1.id, direction="out", author=author, text="réponse",
                created_at=when, feedback=feedback,
            )  # fmt: skip

        s.add_all(
            [
                # 24/06: three messages from two merchants (23:30 UTC is still the 24th)
                incoming(m1, at(24, 10), "Comment créer un site ?", intent="ask_website",
                         confidence=0.9, answered=True, feedback=1),
                incoming(m1, at(24, 11), "Paiement CB", intent="ask_payment", confidence=0.8,
                         answered=True),
                incoming(m2, at(24, 23, 30), "Comment facturer ?", intent="ask_einvoicing",
                         confidence=0.3),
                # 26/06: the same question in two spellings, not answered
                incoming(m2, at(26, 9), SCRIPT, intent="out_of_scope", confidence=0.5,
                         answered=False, feedback=-1),
                incoming(m3, at(26, 9, 5), "CAFÉ <script>alert(1)</script> !",
                         intent="out_of_scope", confidence=0.4, answered=False),
                incoming(m3, at(27, 8), "comment facturer", intent="ask_einvoicing",
                         confidence=0.2, feedback=1),
                incoming(m3, at(28, 8), "RGPD ?", intent="ask_gdpr", confidence=0.9,
                         answered=False),
                incoming(m3, at(28, 9), "", intent=None, answered=False),  # empty: not listed
                incoming(m1, at(29, 8), "[photo]", kind="unsupported", answered=False),
                incoming(m1, at(30, 23, 59, 59), "merci", intent="thanks", confidence=0.95),
                incoming(m1, at(30, 12), "cl:site-vitrine", kind="button"),
                incoming(m2, at(30, 13), "/start", kind="command"),
                # outside the window
                incoming(m4, at(23, 23, 59, 59), "hors fenêtre", intent="ask_gdpr",
                         confidence=0.1, answered=False, feedback=-1),
                incoming(m4, at(1, 0, 0, 0, month=7), "demain", intent="ask_gdpr",
                         confidence=0.1, answered=False),
                # not incoming merchant messages
                Message(merchant_id=m1.id, direction="out", author="staff", text="Bonjour",
                        created_at=at(25)),
                Message(merchant_id=m1.id, direction="in", author="staff", text="note",
                        created_at=at(25), intent="ask_gdpr", answered=False, feedback=1),
                # Feedback is stored on the merchant's question the rated answer replied
                # to (the buttons carry its id): a value on a reply is not counted.
                bot(at(24), 1),
                bot(at(27), None),
                bot(at(26), 1, author="staff"),
            ]
        )  # fmt: skip

        def run(
            merchant: Merchant, checklist: str, started: datetime, finished: datetime | None = None
        ) -> ChecklistRun:
            return ChecklistRun(merchant_id=merchant.id, checklist_id=checklist,
                                started_at=started, finished_at=finished)  # fmt: skip

        def step(
            merchant: Merchant,
            checklist: str,
            step_id: str,
            status: str = "done",
            when: datetime | None = None,
        ) -> ChecklistProgress:
            return ChecklistProgress(merchant_id=merchant.id, checklist_id=checklist,
                                     step_id=step_id, status=status,
                                     updated_at=when or at(28))  # fmt: skip

        fe = "facture-electronique"
        steps = [
            "comprendre-calendrier", "faire-le-point", "choisir-plateforme", "inscrire-annuaire",
            "recevoir", "donnees-clients", "logiciel", "e-reporting", "tester",
        ]  # fmt: skip
        s.add_all(
            [
                run(m1, fe, at(25), at(28)),
                *(step(m1, fe, step_id) for step_id in steps),
                run(m2, fe, at(26)),
                step(m2, fe, "comprendre-calendrier"),
                step(m2, fe, "faire-le-point", "later"),
                step(m2, fe, "choisir-plateforme"),
                step(m2, fe, "inscrire-annuaire", "skipped"),
                run(m3, fe, at(20), at(27)),  # started before the window: not in the cohort
                step(m3, fe, "comprendre-calendrier"),
                run(m4, fe, at(29), at(2, month=7)),  # finished after the window
                step(m4, fe, "comprendre-calendrier", when=at(29)),
                step(m4, fe, "faire-le-point", when=at(2, month=7)),
                run(m1, "ancienne-checklist", at(27)),  # removed from the content since
                step(m1, "ancienne-checklist", "etape-a"),
            ]
        )
        axes = ("visibilite", "vente", "relation", "gestion", "securite", "souverainete")

        def diag(
            merchant: Merchant, scores: dict[str, int], when: datetime, completed: bool = True
        ) -> DiagnosticResult:
            return DiagnosticResult(merchant_id=merchant.id, scores=scores, completed=completed,
                                    created_at=when,
                                    completed_at=when if completed else None)  # fmt: skip

        s.add_all(
            [
                diag(m1, dict(zip(axes, (40, 60, 80, 20, 50, 10), strict=True)) | {"overall": 43},
                     at(25)),
                diag(m2, dict(zip(axes, (80, 20, 40, 60, 50, 30), strict=True)) | {"overall": 47},
                     at(30, 23)),
                diag(m3, {"visibilite": 90, "overall": 90}, at(27)),  # partial scores
                diag(m3, dict.fromkeys(axes, 0) | {"overall": 0}, at(26), completed=False),
                diag(m4, dict.fromkeys(axes, 100) | {"overall": 100}, at(10)),  # too old
            ]
        )  # fmt: skip


def _check(d: Dashboard, kb: KnowledgeBase) -> None:
    days = [date(2025, 6, day) for day in range(24, 31)]
    assert (d.start, d.end, d.days) == (date(2025, 6, 24), TODAY, 7)
    assert d.messages_per_day == list(zip(days, [3, 0, 2, 1, 2, 1, 3], strict=True))
    assert d.active_merchants_per_day == list(zip(days, [2, 0, 2, 1, 1, 1, 2], strict=True))
    assert d.total_messages == 12
    assert d.active_merchants == 3

    assert d.intents == [
        IntentCount("ask_einvoicing", "Facturation et caisse", 2),
        IntentCount("out_of_scope", "out_of_scope", 2),
        IntentCount("ask_gdpr", "RGPD et données", 1),
        IntentCount("ask_payment", "Paiement", 1),
        IntentCount("ask_website", "Site internet", 1),
        IntentCount("thanks", "thanks", 1),
    ]
    assert (d.answerable, d.answered) == (8, 5)
    assert d.answer_rate == pytest.approx(5 / 8)
    assert (d.feedback_up, d.feedback_down) == (2, 1)
    assert d.satisfaction == pytest.approx(2 / 3)

    assert d.unanswered == [
        UnansweredQuestion("comment facturer", 2, date(2025, 6, 27)),
        UnansweredQuestion(SCRIPT, 2, date(2025, 6, 26)),
        UnansweredQuestion("RGPD ?", 1, date(2025, 6, 28)),
    ]

    assert [f.checklist_id for f in d.funnels] == [*kb.checklists, "ancienne-checklist"]
    fe = next(f for f in d.funnels if f.checklist_id == "facture-electronique")
    assert fe.title == kb.checklists["facture-electronique"].title
    assert (fe.started, fe.finished) == (3, 1)
    assert [s.step_id for s in fe.steps] == [
        s.id for s in kb.checklists["facture-electronique"].steps
    ]
    assert [s.done for s in fe.steps] == [3, 1, 2, 1, 1, 1, 1, 1, 1]
    stages = fe.stages()
    assert stages[0] == ("Commencée", 3) and stages[-1] == ("Terminée", 1)
    assert stages[1] == (f"1. {fe.steps[0].title}", 3)
    idle = next(f for f in d.funnels if f.checklist_id == "site-vitrine")
    assert (idle.started, idle.finished, {s.done for s in idle.steps}) == (0, 0, {0})
    old = d.funnels[-1]
    assert (old.title, old.started, old.finished) == ("ancienne-checklist", 1, 0)
    assert [(s.step_id, s.done) for s in old.steps] == [("etape-a", 1)]

    assert d.diagnostics_completed == 3
    labels = {a.id: a.label for a in kb.diagnostic.axes}  # type: ignore[union-attr]
    expected = {
        "visibilite": (70.0, 3),
        "vente": (40.0, 2),
        "relation": (60.0, 2),
        "gestion": (40.0, 2),
        "securite": (50.0, 2),
        "souverainete": (20.0, 2),
    }
    assert [a.axis_id for a in d.diagnostic_axes] == list(labels)
    for axis in d.diagnostic_axes:
        assert axis.label == labels[axis.axis_id]
        assert (axis.average, axis.count) == (pytest.approx(expected[axis.axis_id][0]),
                                              expected[axis.axis_id][1])  # fmt: skip
    assert d.diagnostic_overall.label == "Score global"
    assert d.diagnostic_overall.average == pytest.approx(60.0)
    assert d.diagnostic_overall.count == 3


def test_dashboard_figures(db: Database, kb: KnowledgeBase) -> None:
    _populate(db)
    with db.session() as s:
        d = dashboard(s, kb, days=7, today=TODAY)
    _check(d, kb)


def test_days_are_utc_whatever_the_session_time_zone(db: Database, kb: KnowledgeBase) -> None:
    _populate(db)
    with db.session() as s:
        if s.get_bind().dialect.name != "postgresql":
            pytest.skip("only PostgreSQL has a session time zone")
        s.execute(text("SET LOCAL TIME ZONE 'Pacific/Kiritimati'"))  # UTC+14
        d = dashboard(s, kb, days=7, today=TODAY)
    _check(d, kb)


def test_low_confidence_threshold_and_window(db: Database, kb: KnowledgeBase) -> None:
    _populate(db)
    with db.session() as s:
        strict = dashboard(s, kb, days=7, today=TODAY, low_confidence=0.1)
        one_day = dashboard(s, kb, days=1, today=date(2025, 6, 24))
    # Only the answered-False questions remain: the low-confidence ones are above 0.1.
    assert [q.text for q in strict.unanswered] == [SCRIPT, "RGPD ?"]
    assert one_day.messages_per_day == [(date(2025, 6, 24), 3)]
    assert one_day.intents[0] == IntentCount("ask_einvoicing", "Facturation et caisse", 1)
    assert one_day.unanswered == [UnansweredQuestion("Comment facturer ?", 1, date(2025, 6, 24))]
    assert (one_day.feedback_up, one_day.feedback_down) == (1, 0)
    assert one_day.diagnostics_completed == 0
    assert one_day.diagnostic_overall.average is None


def test_empty_database(db: Database, kb: KnowledgeBase) -> None:
    with db.session() as s:
        d = dashboard(s, kb)  # today by default
    assert d.days == 30 and len(d.messages_per_day) == 30
    assert d.end == datetime.now(UTC).date()
    assert d.total_messages == d.active_merchants == 0
    assert d.answer_rate is None and d.satisfaction is None
    assert d.intents == [] and d.unanswered == []
    assert all(f.started == 0 for f in d.funnels)
    assert all(a.average is None and a.count == 0 for a in d.diagnostic_axes)
    assert to_csv(d).startswith("section,date,clé,libellé,valeur")
    with pytest.raises(ValueError):
        dashboard(s, kb, days=0)


def test_csv_export(db: Database, kb: KnowledgeBase) -> None:
    _populate(db)
    with db.session() as s:
        d = dashboard(s, kb, days=7, today=TODAY)
    rows = list(csv.reader(io.StringIO(to_csv(d))))
    assert rows[0] == ["section", "date", "clé", "libellé", "valeur"]
    assert ["synthese", "", "taux_reponse", "Taux de réponse (%)", "62.5"] in rows
    assert ["synthese", "", "satisfaction", "Satisfaction (%)", "66.7"] in rows
    assert ["jour", "2025-06-24", "messages", "Messages reçus", "3"] in rows
    assert ["jour", "2025-06-25", "marchands_actifs", "Commerçants actifs", "0"] in rows
    assert ["question_sans_reponse", "2025-06-26", "", SCRIPT, "2"] in rows
    assert ["checklist", "", "facture-electronique:terminee",
            f"{kb.checklists['facture-electronique'].title} — Terminée", "1"] in rows  # fmt: skip
    assert ["diagnostic", "", "overall", "Score global", "60.0"] in rows
    assert sum(r[0] == "jour" for r in rows) == 14


def test_csv_neutralises_formulas() -> None:
    d = Dashboard(
        start=TODAY, end=TODAY, messages_per_day=[(TODAY, 1)],
        active_merchants_per_day=[(TODAY, 1)], active_merchants=1, intents=[], answerable=0,
        answered=0, feedback_up=0, feedback_down=0,
        unanswered=[UnansweredQuestion("=HYPERLINK(\"http://x\")", 1, TODAY)], funnels=[],
        diagnostic_axes=[], diagnostic_overall=AxisAverage("overall", "Score global", None, 0),
        diagnostics_completed=0,
    )  # fmt: skip
    rows = list(csv.reader(io.StringIO(to_csv(d))))
    assert ["question_sans_reponse", "2025-06-30", "", '\'=HYPERLINK("http://x")', "1"] in rows


# Charts ----------------------------------------------------------------------------------


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises if the markup is not well-formed XML
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("viewBox", "").startswith("0 0 ")
    assert root.find(f"{SVG}title") is not None
    return root


def _texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_charts_escape_labels_and_titles() -> None:
    evil = "<script>alert('x')</script>"
    title = 'Questions & "tests" <b>'
    for svg in (
        charts.bar_chart([(evil, 3), ("Paiement", 1)], title=title),
        charts.bar_chart([(evil, 3)], title=title, horizontal=False),
        charts.funnel_chart([(evil, 3), ("Terminée", 1)], title=title),
        charts.line_chart([(TODAY, 1)], title=title, unit=evil),
    ):
        assert "<script" not in svg and "<b>" not in svg
        assert "&lt;script&gt;" in svg
        root = _parse(svg)
        assert root.get("aria-label") == title
        assert root.findtext(f"{SVG}title") == title
        assert any("<script>" in t for t in _texts(root))  # shown as text, not run


def test_charts_drop_characters_xml_forbids() -> None:
    svg = charts.bar_chart([("a\x00b\x1bc", 1)], title="t\x07")
    assert "abc" in _texts(_parse(svg))


@pytest.mark.parametrize(
    "svg",
    [
        charts.bar_chart([], title="Intentions"),
        charts.bar_chart([], title="Intentions", horizontal=False),
        charts.line_chart([], title="Messages"),
        charts.funnel_chart([], title="Parcours"),
    ],
)
def test_charts_without_data(svg: str) -> None:
    assert "Aucune donnée sur la période" in _texts(_parse(svg))


def test_line_chart_edge_cases() -> None:
    one = _parse(charts.line_chart([(TODAY, 5)], title="Un jour"))
    assert len(list(one.iter(f"{SVG}circle"))) == 1
    assert one.find(f"{SVG}polyline") is None
    assert "30/06" in _texts(one)

    zeros = _parse(charts.line_chart([(date(2025, 6, d), 0) for d in range(1, 31)], title="Zéro"))
    ticks = [t for t in _texts(zeros) if t[:1].isdigit() and "/" not in t]
    assert ticks == ["0", "1"]  # a flat series still gets a 0..1 axis
    points = zeros.find(f"{SVG}polyline").get("points")  # type: ignore[union-attr]
    assert "nan" not in points.lower() and len(points.split()) == 30

    series = [(date(2025, 6, d), float(d * 10)) for d in range(1, 31)]
    root = _parse(charts.line_chart(series, title="Messages", unit="msg"))
    texts = _texts(root)
    assert "01/06" in texts and "0\u00a0msg" in texts
    assert "300\u00a0msg" in texts  # the top tick covers the maximum
    new_year = _parse(charts.line_chart([(date(2024, 12, 31), 1), (TODAY, 2)], title="An"))
    assert "31/12/2024" in _texts(new_year)


def test_bar_and_funnel_values() -> None:
    root = _parse(charts.bar_chart([("Taux", 62.5), ("Zéro", 0)], title="Taux", unit="%"))
    assert "62,5\u00a0%" in _texts(root)
    widths = [float(r.get("width", "0")) for r in root.iter(f"{SVG}rect")]
    assert widths[0] > 0 and widths[1] == 0
    zeros = _parse(charts.bar_chart([("a", 0), ("b", 0)], title="Zéro"))
    assert all(float(r.get("width", "1")) == 0 for r in zeros.iter(f"{SVG}rect"))

    funnel = _parse(charts.funnel_chart([("Commencée", 4), ("Étape", 3), ("Terminée", 1)],
                                        title="Parcours"))  # fmt: skip
    assert {"4 (100\u00a0%)", "3 (75\u00a0%)", "1 (25\u00a0%)"} <= set(_texts(funnel))
    empty_start = _parse(charts.funnel_chart([("Commencée", 0), ("Terminée", 0)], title="P"))
    assert "0" in _texts(empty_start)


def test_number_format() -> None:
    assert charts.format_number(1234567) == "1\u202f234\u202f567"
    assert charts.format_number(1234.5) == "1\u202f234,5"
    assert charts.format_number(float("nan")) == "–"
