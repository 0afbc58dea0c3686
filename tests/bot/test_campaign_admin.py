"""A campaign's life in the back office (draft, submission, approval by a second person,
pause, resume, cancel, test send) and its results, over real rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot import campaign_admin, campaigns
from bot.campaign_admin import Draft
from bot.campaign_results import delivery_rows, results, to_csv
from bot.campaigns import CampaignError, Segment
from bot.cli import app
from bot.store.models import (
    Campaign,
    CampaignDelivery,
    Merchant,
    Message,
    OutboxMessage,
    as_utc,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
AUTHOR, ADMIN, OTHER = "olivier@cci.fr", "alice@cci.fr", "bruno@cci.fr"


def merchant(session, external_id: str, **fields) -> Merchant:  # type: ignore[no-untyped-def]
    values = {"channel": "telegram", "news_consent": True, "last_seen_at": NOW, **fields}
    row = Merchant(external_id=external_id, flow_state={}, **values)
    session.add(row)
    session.flush()
    return row


def draft(**fields) -> Draft:  # type: ignore[no-untyped-def]
    values = {
        "title": "Atelier facture électronique",
        "text": "<b>Atelier</b> le 12 : inscrivez-vous.",
        "buttons": [[{"label": "S'inscrire", "kind": "url", "target": "https://cci.example.fr"}]],
        "segment": Segment(sectors=("resto",)),
        "scheduled_at": None,
        **fields,
    }
    return Draft(**values)


def saved(services, **fields) -> int:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        return campaign_admin.save(session, None, draft(**fields), services.kb, AUTHOR, NOW).id


def test_buttons_are_checked_against_the_knowledge_base(services) -> None:  # type: ignore[no-untyped-def]
    kb = services.kb
    guide, faq, checklist = next(iter(kb.guides)), next(iter(kb.faq)), next(iter(kb.checklists))
    good = [
        [{"label": "Guide", "kind": "guide", "target": guide}],
        [
            {"label": "FAQ", "kind": "faq", "target": faq},
            {"label": "Checklist", "kind": "checklist", "target": checklist},
        ],
        [{"label": "Diagnostic", "kind": "diagnostic", "target": ""}],
    ]
    campaigns.check_buttons(good, kb)
    bad = {
        "guide": "n-existe-pas",
        "faq": "n-existe-pas",
        "checklist": "n-existe-pas",
        "url": "javascript:alert(1)",
    }
    for kind, target in bad.items():
        with pytest.raises(CampaignError, match="« X »"):
            campaigns.check_buttons([[{"label": "X", "kind": kind, "target": target}]], kb)
    with pytest.raises(CampaignError, match="libellé"):
        campaigns.check_buttons([[{"label": " ", "kind": "diagnostic", "target": ""}]], kb)
    stored = campaign_admin.stored_buttons(
        [*good, [{"label": "L", "kind": "url", "target": "https://a.fr"}]]
    )
    assert stored[-1] == [{"label": "L", "kind": "url", "target": "https://a.fr"}]
    assert stored[0] == good[0]


def test_two_people_take_a_campaign_from_draft_to_scheduled(services) -> None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        merchant(session, "1", trade="resto")
        merchant(session, "2", trade="alim")
        merchant(session, "3", trade="resto", news_consent=False)
    campaign_id = saved(services)
    with services.db.session() as session:
        campaign = session.get(Campaign, campaign_id)
        assert (campaign.status, campaign.created_by, campaign.targeted) == ("draft", AUTHOR, 1)
        assert campaign.title == "Atelier facture électronique"
        # Nothing is sent before approval, whatever the workers do.
        assert campaigns.start_due(session, NOW + timedelta(days=1)) == []
        with pytest.raises(CampaignError, match="brouillon"):
            campaign_admin.approve(session, campaign_id, ADMIN, now=NOW)
        campaign_admin.submit(session, campaign_id, NOW)
        with pytest.raises(CampaignError, match="un autre administrateur"):
            campaign_admin.approve(session, campaign_id, AUTHOR, now=NOW)
        with pytest.raises(CampaignError, match="un autre administrateur"):  # edited it
            campaign_admin.approve(session, campaign_id, OTHER, editors=frozenset({OTHER}), now=NOW)
        with pytest.raises(CampaignError, match="passée"):
            campaign_admin.approve(session, campaign_id, ADMIN, NOW - timedelta(hours=1), now=NOW)
        with pytest.raises(CampaignError, match="pourquoi"):
            campaign_admin.reject(session, campaign_id, ADMIN, "  ")
        campaign_admin.reject(session, campaign_id, ADMIN, "Date à vérifier")
        assert session.get(Campaign, campaign_id).status == "draft"
    # Back to draft: it can be rewritten, then submitted again.
    with services.db.session() as session:
        campaign_admin.save(
            session, campaign_id, draft(title="Atelier (corrigé)"), services.kb, AUTHOR, NOW
        )
        campaign_admin.submit(session, campaign_id, NOW)
        with pytest.raises(CampaignError, match="brouillon"):  # frozen while submitted
            campaign_admin.save(session, campaign_id, draft(), services.kb, AUTHOR, NOW)
        at = NOW + timedelta(days=2)
        campaign_admin.approve(session, campaign_id, ADMIN, at, now=NOW)
    with services.db.session() as session:
        campaign = session.get(Campaign, campaign_id)
        assert (campaign.status, campaign.approved_by) == ("scheduled", ADMIN)
        assert as_utc(campaign.scheduled_at) == at
        assert campaigns.start_due(session, NOW + timedelta(days=1)) == []  # not yet
        assert campaigns.start_due(session, at) == [campaign_id]
        assert session.get(Campaign, campaign_id).targeted == 1


def test_a_past_date_cannot_be_submitted(services) -> None:  # type: ignore[no-untyped-def]
    campaign_id = saved(services, scheduled_at=NOW - timedelta(minutes=5))
    with services.db.session() as session, pytest.raises(CampaignError, match="passée"):
        campaign_admin.submit(session, campaign_id, NOW)


def sending(services, consenting: int = 3) -> int:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        for n in range(consenting):
            merchant(session, f"chat-{n}", trade="resto")
    campaign_id = saved(services)
    with services.db.session() as session:
        campaign_admin.submit(session, campaign_id, NOW)
        campaign_admin.approve(session, campaign_id, ADMIN, now=NOW)
        assert campaigns.start_due(session, NOW) == [campaign_id]
    return campaign_id


def test_pause_stops_claims_and_resume_restarts_them(services) -> None:  # type: ignore[no-untyped-def]
    campaign_id = sending(services)
    with services.db.session() as session:
        first = campaigns.claim(session, limit=1, now=NOW)
        campaigns.record(session, first[0].delivery_id, "sent", NOW)
        campaign_admin.pause(session, campaign_id)
    with services.db.session() as session:
        assert campaigns.claim(session, now=NOW) == []  # paused: nobody takes the rest
        assert campaigns.finish_sent(session, NOW) == []  # and it is not "done"
        with pytest.raises(CampaignError, match="en pause"):
            campaign_admin.pause(session, campaign_id)
        campaign_admin.resume(session, campaign_id)
        assert session.get(Campaign, campaign_id).status == "sending"
        assert len(campaigns.claim(session, now=NOW)) == 2


def test_pausing_a_scheduled_campaign_keeps_it_from_starting(services) -> None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        merchant(session, "1", trade="resto")
    campaign_id = saved(services)
    with services.db.session() as session:
        campaign_admin.submit(session, campaign_id, NOW)
        campaign_admin.approve(session, campaign_id, ADMIN, NOW + timedelta(hours=1), now=NOW)
        campaign_admin.pause(session, campaign_id)
        assert campaigns.start_due(session, NOW + timedelta(hours=2)) == []
        campaign_admin.resume(session, campaign_id)
        assert session.get(Campaign, campaign_id).status == "scheduled"
        assert campaigns.start_due(session, NOW + timedelta(hours=2)) == [campaign_id]


def test_cancel_marks_what_was_not_sent_and_it_never_goes(services) -> None:  # type: ignore[no-untyped-def]
    campaign_id = sending(services, consenting=4)
    with services.db.session() as session:
        held = campaigns.claim(session, limit=3, now=NOW)
        campaigns.record(session, held[0].delivery_id, "sent", NOW)
        # The one copy nobody holds is cancelled; the two a worker holds are left to it.
        assert campaign_admin.cancel(session, campaign_id, NOW) == 1
    with services.db.session() as session:
        campaigns.record(session, held[1].delivery_id, "sent", NOW)  # it did go out
        campaigns.record(session, held[2].delivery_id, "retry", NOW)  # it did not
        assert campaigns.claim(session, now=NOW + timedelta(hours=1)) == []  # never again
        assert campaigns.finish_sent(session, NOW + timedelta(hours=1)) == []
        figures = results(session, campaign_id, NOW)
        assert figures is not None
        assert (figures.by_status["sent"], figures.by_status["cancelled"]) == (2, 2)
        assert figures.by_status["pending"] == 0
        assert session.get(Campaign, campaign_id).status == "cancelled"
        with pytest.raises(CampaignError):
            campaign_admin.resume(session, campaign_id)


def test_a_test_send_goes_through_the_outbox_and_is_not_counted(services) -> None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        me = merchant(session, "777001", trade="alim")  # outside the segment: still testable
        merchant(session, "777002", news_consent=False)
        me_id = me.id
    campaign_id = saved(services)
    with services.db.session() as session:
        found, row = campaign_admin.send_test(session, campaign_id, "777001")
        assert found.id == me_id and row.kind == "campaign_test"
        assert campaign_admin.send_test(session, campaign_id, str(me_id))[0].id == me_id
        with pytest.raises(CampaignError, match="pas accepté"):
            campaign_admin.send_test(session, campaign_id, "777002")
        with pytest.raises(CampaignError, match="Aucun commerçant"):
            campaign_admin.send_test(session, campaign_id, "999999")
    with services.db.session() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.merchant_id == me_id)
        ).all()
        assert len(rows) == 2
        assert "<b>Atelier</b>" in rows[0].html and "Ne plus recevoir" in json.dumps(
            rows[0].buttons, ensure_ascii=False
        )
        assert rows[0].buttons[0] == [{"label": "S'inscrire", "url": "https://cci.example.fr"}]
        assert session.scalars(select(CampaignDelivery)).all() == []
        figures = results(session, campaign_id, NOW)
        assert figures is not None and figures.by_status["sent"] == 0


def test_results_count_presses_stops_and_questions_within_a_day(services) -> None:  # type: ignore[no-untyped-def]
    campaign_id = sending(services, consenting=5)
    with services.db.session() as session:
        held = campaigns.claim(session, limit=5, now=NOW)
        ids = [p.delivery_id for p in held]
        for delivery_id in ids[:3]:
            campaigns.record(session, delivery_id, "sent", NOW)
        campaigns.record(session, ids[3], "unreachable", NOW)
        deliveries = {d.id: d for d in session.scalars(select(CampaignDelivery))}
        pressed, stopped, quiet = (deliveries[i] for i in ids[:3])
        pressed.pressed_at = NOW + timedelta(minutes=3)
        stopped.stopped_at = NOW + timedelta(minutes=5)
        session.add_all(
            [
                # asks within the day
                Message(merchant_id=pressed.merchant_id, direction="in", text="et le prix ?",
                        created_at=NOW + timedelta(hours=2)),
                # a press is not a question; a message after 24 h is not counted
                Message(merchant_id=stopped.merchant_id, direction="in", kind="button",
                        text="Ne plus recevoir", created_at=NOW + timedelta(minutes=5)),
                Message(merchant_id=quiet.merchant_id, direction="in", text="bonjour",
                        created_at=NOW + timedelta(hours=25)),
                # before the message: not caused by it
                Message(merchant_id=quiet.merchant_id, direction="in", text="avant",
                        created_at=NOW - timedelta(hours=1)),
            ]
        )  # fmt: skip
        unsent = ids[4]
    with services.db.session() as session:
        figures = results(session, campaign_id, NOW + timedelta(hours=1))
        assert figures is not None
        assert figures.targeted == 5
        assert figures.by_status == {
            "sent": 3, "failed": 0, "unreachable": 1, "skipped": 0, "pending": 1, "cancelled": 0,
        }  # fmt: skip
        assert (figures.pressed, figures.stopped, figures.asked_within_24h) == (1, 1, 1)
        assert figures.rate("sent") == pytest.approx(3 / 5)
        assert figures.rate("pressed") == pytest.approx(1 / 3)
        assert not figures.settled_asks
        rows = list(csv.DictReader(io.StringIO(to_csv(delivery_rows(session, campaign_id)))))
    assert [r["status"] for r in rows] == ["sent", "sent", "sent", "unreachable", "pending"]
    assert set(rows[0]) == {
        "merchant_id", "status", "sent_at", "pressed_at", "stopped_at", "asked_within_24h",
    }  # fmt: skip
    by_merchant = {int(r["merchant_id"]): r for r in rows}
    assert by_merchant[pressed.merchant_id]["asked_within_24h"] == "1"
    assert by_merchant[pressed.merchant_id]["pressed_at"].startswith("2026-12-04T12:03")
    assert by_merchant[stopped.merchant_id]["asked_within_24h"] == "0"
    assert by_merchant[quiet.merchant_id]["asked_within_24h"] == "0"
    assert rows[4]["sent_at"] == "" and unsent


def test_status_json_keeps_its_keys_and_adds_the_reactions(services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    campaign_id = sending(services, consenting=2)
    with services.db.session() as session:
        held = campaigns.claim(session, limit=1, now=NOW)
        campaigns.record(session, held[0].delivery_id, "sent", NOW)
        delivery = session.get(CampaignDelivery, held[0].delivery_id)
        delivery.pressed_at = NOW
    env = {"COMPTOIR_DATABASE_URL": services.db.url, "COMPTOIR_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(
        app,
        ["--env-file", str(tmp_path / "none"), "campaign", "status", str(campaign_id), "--json"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    for key in ("id", "status", "scheduled_at", "targeted", "sent", "failed", "unreachable",
                "skipped", "pending"):  # fmt: skip
        assert key in figures
    assert (figures["sent"], figures["pending"], figures["targeted"]) == (1, 1, 2)
    assert (figures["pressed"], figures["stopped"], figures["cancelled"]) == (1, 0, 0)
    assert figures["asked_within_24h"] == 0


def test_a_rule_draft_is_approved_into_a_rule_that_starts_active(services) -> None:  # type: ignore[no-untyped-def]
    """The composer's rule: same two-person approval, scheduled, then active through the
    worker's start_due; an end before the start is refused at save and at approval."""
    ends = NOW + timedelta(days=30)
    with services.db.session() as session:
        with pytest.raises(CampaignError, match="après son début"):
            campaign_admin.save(
                session,
                None,
                draft(kind="rule", ends_at=ends, scheduled_at=ends + timedelta(hours=1)),
                services.kb,
                AUTHOR,
                NOW,
            )
        with pytest.raises(CampaignError, match="Seule une relance"):
            campaign_admin.save(session, None, draft(ends_at=ends), services.kb, AUTHOR, NOW)
    rule_id = saved(services, kind="rule", ends_at=ends)
    with services.db.session() as session:
        campaign_admin.submit(session, rule_id, NOW)
        with pytest.raises(CampaignError, match="finirait avant de commencer"):
            campaign_admin.approve(session, rule_id, ADMIN, ends + timedelta(days=1), now=NOW)
        with pytest.raises(CampaignError, match="un autre administrateur"):
            campaign_admin.approve(session, rule_id, AUTHOR, now=NOW)
    with services.db.session() as session:
        rule = campaign_admin.approve(session, rule_id, ADMIN, now=NOW)
        assert (rule.kind, rule.status, rule.approved_by) == ("rule", "scheduled", ADMIN)
        assert campaign_admin.status_label(rule) == "Programmée (active à sa date)"
    with services.db.session() as session:
        assert campaigns.start_due(session, NOW) == []
        rule = session.get(Campaign, rule_id)
        assert rule.status == "active" and as_utc(rule.ends_at) == ends
        assert campaign_admin.summary(rule)["kind"] == "rule"
