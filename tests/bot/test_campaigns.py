"""Campaigns without a channel: consent through the assistant, segments, the delivery queue
(claims, outcomes, figures) and the `comptoir campaign` command, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot import campaigns
from bot.assistant import Assistant
from bot.campaigns import CampaignError, Segment
from bot.cli import app
from bot.store.models import (
    Campaign,
    CampaignDelivery,
    ChecklistRun,
    DiagnosticResult,
    Merchant,
)
from tests.bot.test_assistant import Chat

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def merchant(session, external_id: str, **fields) -> Merchant:  # type: ignore[no-untyped-def]
    values = {"channel": "telegram", "news_consent": True, "last_seen_at": NOW, **fields}
    row = Merchant(external_id=external_id, flow_state={}, **values)
    session.add(row)
    session.flush()
    return row


def consent_of(services, user: str) -> tuple[bool, datetime | None]:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        row = session.scalar(select(Merchant).where(Merchant.external_id == user))
        return row.news_consent, row.news_consent_at


# -- consent ------------------------------------------------------------------------------


def test_actus_shows_the_state_and_switches_it(services) -> None:  # type: ignore[no-untyped-def]
    chat = Chat(Assistant(services))
    chat.say("/actus")
    assert "ne recevez pas" in chat.text()
    assert consent_of(services, "42") == (False, None)  # off until they say yes
    chat.press("Recevoir les actualités")
    assert "vous recevrez" in chat.text()
    on, since = consent_of(services, "42")
    assert on and since is not None
    chat.say("/actus")
    assert "depuis le" in chat.text()
    chat.say("/actus oui")  # the same choice again keeps its date
    assert consent_of(services, "42") == (True, since)
    chat.say("/actus non")
    assert "ne recevrez pas" in chat.text()
    assert consent_of(services, "42")[0] is False
    chat.say("/actus")
    chat.press("Recevoir")
    assert consent_of(services, "42")[0] is True
    chat.data("nw:stop")  # the button under a campaign message
    assert consent_of(services, "42")[0] is False and "ne recevrez pas" in chat.text()
    chat.data("nw:forged")
    assert "plus valable" in chat.text()


def test_the_profile_ends_with_the_news_question(services) -> None:  # type: ignore[no-untyped-def]
    chat = Chat(Assistant(services))
    chat.say("/start")
    chat.press("Restaurant")
    chat.press("Oui")
    assert "/diagnostic" in chat.text() and "1 à 2 messages par mois" in chat.text()
    assert consent_of(services, "42")[0] is False
    chat.press("Oui, volontiers")
    assert consent_of(services, "42")[0] is True
    other = Chat(chat.assistant, user="43")
    other.say("/start")
    other.press("Artisan")
    other.press("Non")
    other.press("Non merci")
    on, since = consent_of(services, "43")
    assert on is False and since is not None  # a choice made, and when


def test_consent_works_during_a_handoff(services) -> None:  # type: ignore[no-untyped-def]
    chat = Chat(Assistant(services))
    chat.say("/humain")
    chat.say("/actus oui")
    assert consent_of(services, "42")[0] is True and "vous recevrez" in chat.text()


def test_mesdonnees_shows_the_choice_and_oublier_erases_it(services) -> None:  # type: ignore[no-untyped-def]
    chat = Chat(Assistant(services))
    chat.say("/actus oui")
    with services.db.session() as session:
        row = session.scalar(select(Merchant).where(Merchant.external_id == "42"))
        row.channel = "telegram"  # so that a campaign reaches it
    with services.db.session() as session:
        campaign = campaigns.create(session, "Salon du numérique", Segment(), "t", "t", now=NOW)
        campaigns.start(session, campaign, NOW)
        (pending,) = campaigns.claim(session, now=NOW)
        campaigns.record(session, pending.delivery_id, "sent", NOW)
    with services.db.session() as session:
        row = session.scalar(select(Merchant).where(Merchant.external_id == "42"))
        row.channel = "test"
    (reply,) = chat.say("/mesdonnees")
    data = json.loads(reply.attachment.content)
    assert data["profile"]["news_consent"] is True
    chosen = consent_of(services, "42")[1]
    assert chosen is not None
    assert datetime.fromisoformat(data["profile"]["news_consent_at"]) == chosen
    assert [d["status"] for d in data["news_received"]] == ["sent"]
    chat.say("/oublier")
    chat.press("Oui, tout effacer")
    with services.db.session() as session:
        assert session.scalar(select(Merchant)) is None
        assert session.scalar(select(CampaignDelivery)) is None


# -- segments -----------------------------------------------------------------------------


def test_segments_require_consent_and_apply_every_filter(services) -> None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        resto = merchant(session, "1", trade="resto", sells_online="oui", tags=["salon"])
        boutique = merchant(session, "2", trade="boutique", sells_online="non")
        soon = merchant(session, "3", trade="resto", sells_online="bientot")
        old = merchant(session, "4", trade="resto", last_seen_at=NOW - timedelta(days=40))
        merchant(session, "5", trade="resto", news_consent=False)  # never targeted
        merchant(session, "6", trade="resto", unreachable_at=NOW)  # blocked the bot
        merchant(session, "7", trade="resto", channel="terminal")  # not on Telegram
        for row, finished in ((resto, None), (boutique, NOW)):
            session.add(
                ChecklistRun(merchant_id=row.id, checklist_id="newsletter", finished_at=finished)
            )
        # the latest completed diagnostic counts: an older low score, a newer good one
        session.add(DiagnosticResult(merchant_id=resto.id, completed=True, scores={"vente": 20}))
        session.add(DiagnosticResult(merchant_id=resto.id, completed=True, scores={"vente": 80}))
        session.add(DiagnosticResult(merchant_id=soon.id, completed=True, scores={"vente": 30}))
        session.add(DiagnosticResult(merchant_id=old.id, completed=False, scores={"vente": 10}))

    def ids(**filters) -> set[str]:  # type: ignore[no-untyped-def]
        with services.db.session() as session:
            found = campaigns.matching(session, Segment(**filters), NOW)
            assert campaigns.count(session, Segment(**filters), NOW) == len(found)
            return {session.get(Merchant, m).external_id for m in found}

    assert ids() == {"1", "2", "3", "4"}
    assert ids(sectors=("resto",)) == {"1", "3", "4"}
    assert ids(sectors=("resto", "boutique")) == {"1", "2", "3", "4"}
    assert ids(sells_online=True) == {"1"}
    assert ids(sells_online=False) == {"2", "3"}
    assert ids(seen_within_days=30) == {"1", "2", "3"}
    assert ids(unfinished_checklist="newsletter") == {"1"}
    assert ids(not_started_checklist="newsletter") == {"3", "4"}
    assert ids(axis_below={"vente": 50}) == {"3"}
    assert ids(axis_below={"vente": 90}) == {"1", "3"}
    assert ids(tags=("salon", "autre")) == {"1"}
    assert ids(sectors=("resto",), seen_within_days=30, sells_online=False) == {"3"}
    with pytest.raises(CampaignError, match="Secteur inconnu"):
        Segment(sectors=("boulangerie-patisserie",))
    assert Segment.from_json(Segment(sectors=("resto",), tags=("a",)).to_json()) == Segment(
        sectors=("resto",), tags=("a",)
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "vide"),
        ("x" * 4000, "trop long"),
        ("<b>gras", "non fermée"),
        ("<div>bloc</div>", "<div>"),
    ],
)
def test_texts_telegram_would_refuse_are_refused(text: str, problem: str) -> None:
    with pytest.raises(CampaignError, match=problem):
        campaigns.check_text(text)


# -- delivery queue -----------------------------------------------------------------------


def test_deliveries_are_frozen_claimed_once_and_counted(services) -> None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        for i in range(6):
            merchant(session, str(100 + i), trade="resto")
        merchant(session, "200", trade="boutique")
        campaign = campaigns.create(
            session, "<b>Atelier</b> jeudi", Segment(sectors=("resto",)), "t", "t", now=NOW
        )
        assert (campaign.status, campaign.targeted) == ("scheduled", 6)
        campaign_id = campaign.id
        assert campaigns.start_due(session, NOW - timedelta(seconds=1)) == []  # not yet due
        assert campaigns.start_due(session, NOW) == [campaign_id]
        merchant(session, "107", trade="resto")  # joins after the start: not targeted
    with services.db.session() as session:
        first = campaigns.claim(session, limit=4, now=NOW)
        second = campaigns.claim(session, limit=4, now=NOW)
        assert len(first) == 4 and len(second) == 2  # the first four are held
        assert campaigns.claim(session, now=NOW) == []
        reply = first[0].reply
        assert (
            reply.html.startswith("<b>Atelier</b> jeudi") and "ne plus les recevoir" in reply.html
        )
        assert reply.button_list()[-1] == {
            "label": "Ne plus recevoir",
            "data": f"nw:stop:{campaign_id}",  # names the campaign: its stops are counted
        }
        a, b, c, d = (p.delivery_id for p in first)
        campaigns.record(session, a, "sent", NOW)
        campaigns.record(session, a, "sent", NOW)  # settled: a second outcome changes nothing
        campaigns.record(session, b, "unreachable", NOW)
        campaigns.record(session, c, "retry", NOW)
        campaigns.record(session, d, "later", NOW)
        blocked = session.get(CampaignDelivery, b).merchant_id
        assert session.get(Merchant, blocked).unreachable_at is not None
        assert blocked not in campaigns.matching(session, Segment(), NOW)
    with services.db.session() as session:
        # d is free again; c waits out its back-off; the second batch is still held
        assert [p.delivery_id for p in campaigns.claim(session, now=NOW)] == [d]
        later = NOW + campaigns.LEASE + timedelta(seconds=1)
        again = [p.delivery_id for p in campaigns.claim(session, now=later)]
        assert set(again) == {c, d} | {p.delivery_id for p in second}  # leases ran out
        for delivery_id in again:
            campaigns.record(session, delivery_id, "sent", later)
        assert campaigns.finish_sent(session, later) == [campaign_id]
        figures = campaigns.status(session, campaign_id)
    assert figures is not None
    assert (figures["status"], figures["targeted"]) == ("done", 6)
    assert (figures["sent"], figures["unreachable"], figures["pending"]) == (5, 1, 0)


def test_errors_fail_after_the_last_attempt_and_withdrawn_consent_is_skipped(services) -> None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        kept, leaving = merchant(session, "1"), merchant(session, "2")
        campaign = campaigns.create(session, "Nouveau guide", Segment(), "t", "t", now=NOW)
        campaigns.start(session, campaign, NOW)
        leaving.news_consent = False  # /actus non after the start
    moment = NOW
    for _ in range(campaigns.MAX_ATTEMPTS):
        with services.db.session() as session:
            (pending,) = campaigns.claim(session, now=moment)
            campaigns.record(session, pending.delivery_id, "retry", moment)
        moment += campaigns.RETRY_AFTER * campaigns.MAX_ATTEMPTS
    with services.db.session() as session:
        assert campaigns.claim(session, now=moment) == []
        rows = session.scalars(select(CampaignDelivery).order_by(CampaignDelivery.id)).all()
        assert [(r.merchant_id, r.status) for r in rows] == [
            (kept.id, "failed"),
            (leaving.id, "skipped"),
        ]
        assert campaigns.status(session, campaign.id)["failed"] == 1  # type: ignore[index]


def test_workers_claiming_together_never_share_a_delivery(services) -> None:  # type: ignore[no-untyped-def]
    if not services.db.shared_by_workers:
        pytest.skip("SQLite serves one process")
    with services.db.session() as session:
        for i in range(30):
            merchant(session, str(i))
        campaigns.start(session, campaigns.create(session, "Info", Segment(), "t", "t"), NOW)
    with services.db.session() as one, services.db.session() as two:
        first = {p.delivery_id for p in campaigns.claim(one, limit=20, now=NOW)}
        second = {p.delivery_id for p in campaigns.claim(two, limit=20, now=NOW)}
    assert len(first) == 20 and len(second) == 10 and not first & second


def test_when_without_an_offset_is_paris_time() -> None:
    assert campaigns.parse_when("2026-07-14T10:00") == datetime(2026, 7, 14, 8, 0, tzinfo=UTC)
    assert campaigns.parse_when("2026-12-24T09:30") == datetime(2026, 12, 24, 8, 30, tzinfo=UTC)
    assert campaigns.parse_when("2026-12-24T09:30+00:00").hour == 9
    with pytest.raises(CampaignError):
        campaigns.parse_when("jeudi")


# -- command line -------------------------------------------------------------------------


def test_campaign_command_queues_and_reports(services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        for i in range(5):
            merchant(session, str(i), trade="resto" if i < 3 else "alim")
        run = merchant(session, "9", trade="alim")
        session.add(ChecklistRun(merchant_id=run.id, checklist_id="newsletter"))
    message = tmp_path / "message.html"
    message.write_text("<b>Atelier</b> facture électronique jeudi 14 h", encoding="utf-8")
    env = {"COMPTOIR_DATABASE_URL": services.db.url, "COMPTOIR_DATA_DIR": str(tmp_path)}
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        done = runner.invoke(app, ["--env-file", str(tmp_path / "none"), *args], env=env)
        assert done.exit_code == 0, done.output
        return json.loads(done.stdout)

    sent = invoke("campaign", "send", "--text-file", str(message), "--sector", "resto", "--json")
    assert sent["targeted"] == 3
    figures = invoke("campaign", "status", str(sent["id"]), "--json")
    assert {k: figures[k] for k in ("targeted", "sent", "failed", "unreachable", "pending")} == {
        "targeted": 3,
        "sent": 0,
        "failed": 0,
        "unreachable": 0,
        "pending": 3,
    }
    later = invoke(
        "campaign", "send", "--text-file", str(message), "--unfinished-checklist", "newsletter",
        "--seen-within-days", "30", "--at", "2030-01-15T09:00", "--json",
    )  # fmt: skip
    assert later["targeted"] == 1
    with services.db.session() as session:
        queued = session.get(Campaign, later["id"])
        assert (queued.status, queued.approved_by) == ("scheduled", "cli")
        assert campaigns.status(session, later["id"])["scheduled_at"].startswith(  # type: ignore[index]
            "2030-01-15T08:00"
        )
    options = ["--text-file", str(message), "--sector", "fleuriste"]
    refused = runner.invoke(
        app, ["--env-file", str(tmp_path / "none"), "campaign", "send", *options], env=env
    )
    assert refused.exit_code == 1 and "Secteur inconnu" in refused.output
