"""Campaign buttons that open Comptoir content (tracked), "Ne plus recevoir" naming its
campaign, campaign messages in the transcript, and nudges (rules): who they reach, once per
merchant per rule, one nudge a week, the rule job shared by workers, and the CLI. On SQLite
and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot import campaigns, nudges
from bot.assistant import Assistant
from bot.campaigns import CampaignError, Segment
from bot.cli import app
from bot.messages import MAX_CALLBACK_BYTES
from bot.store.models import (
    Campaign,
    CampaignDelivery,
    ChecklistRun,
    DiagnosticResult,
    Merchant,
    Message,
    ScheduledJob,
)
from tests.bot.test_assistant import Chat
from tests.bot.test_campaigns import merchant

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
GUIDE = "reconnaitre-hameconnage"
FAQ = "17cyber-c-est-quoi"
CHECKLIST = "facture-electronique"
BUTTONS = [
    [
        {"label": "Lire le guide", "kind": "guide", "target": GUIDE},
        {"label": "La question", "kind": "faq", "target": FAQ},
    ],
    [
        {"label": "Commencer la checklist", "kind": "checklist", "target": CHECKLIST},
        {"label": "Faire le diagnostic", "kind": "diagnostic", "target": ""},
    ],
    [{"label": "Le site", "url": "https://example.org/atelier"}],  # the first shape
]


# -- buttons ------------------------------------------------------------------------------


def test_buttons_compose_to_tracked_callbacks_within_telegram_limits() -> None:
    reply = campaigns.compose("<b>Atelier</b>", BUTTONS, "fr", campaign_id=2**31 - 1)
    rows = reply.button_rows()
    assert [b["data"] for b in rows[0] + rows[1]] == [
        f"nw:go:{2**31 - 1}:0:0",
        f"nw:go:{2**31 - 1}:0:1",
        f"nw:go:{2**31 - 1}:1:0",
        f"nw:go:{2**31 - 1}:1:1",
    ]
    assert rows[2] == [{"label": "Le site", "url": "https://example.org/atelier"}]
    assert rows[3] == [{"label": "Ne plus recevoir", "data": f"nw:stop:{2**31 - 1}"}]
    assert all(len(b.get("data", "").encode()) <= MAX_CALLBACK_BYTES for r in rows for b in r)
    # a preview (no campaign yet) keeps the plain stop of the first messages
    assert campaigns.compose("x", [], "fr").button_list() == [
        {"label": "Ne plus recevoir", "data": "nw:stop"}
    ]


def test_check_buttons_refuses_what_could_not_work(ready) -> None:  # type: ignore[no-untyped-def]
    kb = ready[2]
    campaigns.check_buttons(BUTTONS, kb)  # all valid
    campaigns.check_buttons([], kb)

    def refused(button: dict[str, str], problem: str) -> None:
        with pytest.raises(CampaignError, match=problem):
            campaigns.check_buttons([[button]], kb)

    refused({"label": "G", "kind": "guide", "target": "pas-un-guide"}, "guide inconnu")
    refused({"label": "F", "kind": "faq", "target": "pas-une-faq"}, "FAQ inconnue")
    refused({"label": "C", "kind": "checklist", "target": "pas-une-liste"}, "checklist inconnue")
    refused({"label": "U", "kind": "url", "target": "javascript:alert(1)"}, "http")
    refused({"label": "U", "url": "ftp://example.org/x"}, "http")
    refused({"label": "U", "kind": "url", "target": "https://"}, "http")
    refused({"label": "x" * 61, "kind": "diagnostic"}, "libellé trop long")
    refused({"label": " ", "kind": "diagnostic"}, "libellé vide")
    refused({"label": "A", "kind": "appel", "target": ""}, "type inconnu")
    with pytest.raises(CampaignError, match="par rangée"):
        campaigns.check_buttons([[{"label": str(i), "kind": "diagnostic"} for i in range(9)]], kb)
    with pytest.raises(CampaignError, match="illisible"):
        campaigns.check_buttons([["pas un bouton"]], kb)


def sent_campaign(services, buttons, user: str = "42") -> tuple[Chat, int]:  # type: ignore[no-untyped-def]
    """A merchant who accepted the news, and a campaign with `buttons` sent to them: the
    chat shows the message as they got it."""
    chat = Chat(Assistant(services), user=user)
    chat.say("/actus oui")
    with services.db.session() as session:
        campaign = campaigns.create(
            session, "<b>Atelier</b> jeudi", Segment(channel="test"), "t", "t", buttons=buttons
        )
        campaigns.start(session, campaign)
        (pending,) = campaigns.claim(session, channel="test")
        campaigns.record(session, pending.delivery_id, "sent")
        campaign_id = campaign.id
    chat.last = [pending.reply]
    return chat, campaign_id


def delivery_of(services, campaign_id: int, user: str = "42") -> CampaignDelivery:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        row = session.scalar(
            select(CampaignDelivery)
            .join(Merchant, Merchant.id == CampaignDelivery.merchant_id)
            .where(CampaignDelivery.campaign_id == campaign_id, Merchant.external_id == user)
        )
        session.expunge(row)
        return row


def test_each_content_button_opens_what_the_bot_shows_and_counts_once(services) -> None:  # type: ignore[no-untyped-def]
    chat, campaign_id = sent_campaign(services, BUTTONS)
    message = chat.last
    kb = services.kb
    assert delivery_of(services, campaign_id).pressed_at is None

    chat.press("Lire le guide")
    assert kb.guides[GUIDE].title in chat.text()
    first = delivery_of(services, campaign_id).pressed_at
    assert first is not None
    opened = [r.html for r in chat.last]
    assert opened == [r.html for r in chat.data(f"gd:{GUIDE}")]  # the bot's own guide reply

    chat.last = message
    chat.press("La question")
    assert [r.html for r in chat.last] == [r.html for r in chat.data(f"fq:{FAQ}")]
    assert kb.faq[FAQ].question in chat.text()

    chat.last = message
    chat.press("Commencer la checklist")
    assert kb.checklists[CHECKLIST].title in chat.text()
    assert [r.html for r in chat.last] == [r.html for r in chat.data(f"ck:o:{CHECKLIST}")]

    chat.last = message
    chat.press("Faire le diagnostic")
    assert kb.diagnostic.title in chat.text()
    other = Chat(chat.assistant, user="43")
    assert [r.html for r in chat.last] == [r.html for r in other.say("/diagnostic")]

    assert delivery_of(services, campaign_id).pressed_at == first  # the first press counts
    (export,) = chat.say("/mesdonnees")  # the merchant sees what was recorded
    (received,) = json.loads(export.attachment.content)["news_received"]
    assert received["pressed_at"] is not None and received["stopped_at"] is None


def test_stale_buttons_answer_politely_and_count_nothing(services) -> None:  # type: ignore[no-untyped-def]
    chat, campaign_id = sent_campaign(
        services, [[{"label": "G", "kind": "guide", "target": GUIDE}]]
    )
    for data in (
        f"nw:go:{campaign_id + 1}:0:0",  # no such campaign
        f"nw:go:{campaign_id}:5:0",  # no such button
        f"nw:go:{campaign_id}:0:x",  # forged
        "nw:go:0:0:0",  # a preview's button
    ):
        chat.data(data)
        assert "plus valable" in chat.text(), data
    with services.db.session() as session:  # the guide left the knowledge base since
        session.get(Campaign, campaign_id).buttons = [
            [{"label": "G", "kind": "guide", "target": "guide-retire"}],
        ]
    chat.data(f"nw:go:{campaign_id}:0:0")
    assert "plus valable" in chat.text()
    assert delivery_of(services, campaign_id).pressed_at is None


def test_a_press_during_a_handoff_counts_but_the_adviser_keeps_the_conversation(services) -> None:  # type: ignore[no-untyped-def]
    chat, campaign_id = sent_campaign(services, BUTTONS)
    message = chat.last
    chat.say("/humain")
    chat.last = message
    assert chat.press("Lire le guide") == []
    assert delivery_of(services, campaign_id).pressed_at is not None


def test_stop_under_a_campaign_withdraws_consent_and_is_recorded(services) -> None:  # type: ignore[no-untyped-def]
    chat, campaign_id = sent_campaign(services, [])
    chat.press("Ne plus recevoir")
    assert "ne recevrez pas" in chat.text()
    with services.db.session() as session:
        assert session.scalar(select(Merchant.news_consent)) is False
    stopped = delivery_of(services, campaign_id).stopped_at
    assert stopped is not None
    chat.say("/actus oui")
    chat.data(f"nw:stop:{campaign_id}")  # a second press keeps the first date
    assert delivery_of(services, campaign_id).stopped_at == stopped
    chat.say("/actus oui")
    chat.data("nw:stop")  # messages sent before campaigns were named
    with services.db.session() as session:
        assert session.scalar(select(Merchant.news_consent)) is False


def test_a_sent_campaign_message_joins_the_transcript(services) -> None:  # type: ignore[no-untyped-def]
    chat, campaign_id = sent_campaign(services, BUTTONS)
    with services.db.session() as session:
        rows = session.scalars(
            select(Message).where(Message.kind == "campaign").order_by(Message.id)
        ).all()
        assert len(rows) == 1
        (row,) = rows
        assert (row.direction, row.author, row.delivered) == ("out", "bot", True)
        assert row.html == chat.last[0].html and row.html.startswith("<b>Atelier</b> jeudi")
        assert row.text.startswith("Atelier jeudi")  # plain, safe to show
        assert row.buttons[-1] == [{"label": "Ne plus recevoir", "data": f"nw:stop:{campaign_id}"}]
        assert session.get(Merchant, row.merchant_id).external_id == "42"


# -- segments for rules -------------------------------------------------------------------


def external_ids(services, segment: Segment, now: datetime) -> set[str]:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        return {
            session.get(Merchant, m).external_id for m in campaigns.matching(session, segment, now)
        }


def test_checklist_idle_days_and_diagnostic_age(services) -> None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        idle, busy, done = merchant(session, "1"), merchant(session, "2"), merchant(session, "3")
        for row, last_step, finished in (
            (idle, NOW - timedelta(days=12), None),
            (busy, NOW - timedelta(days=3), None),
            (done, NOW - timedelta(days=30), NOW - timedelta(days=20)),
        ):
            session.add(
                ChecklistRun(
                    merchant_id=row.id,
                    checklist_id=CHECKLIST,
                    updated_at=last_step,
                    finished_at=finished,
                )
            )
        old, recent = merchant(session, "4"), merchant(session, "5")
        merchant(session, "6")  # no diagnostic
        for row, completed in (
            (old, NOW - timedelta(days=400)),
            (recent, NOW - timedelta(days=100)),
        ):
            session.add(
                DiagnosticResult(merchant_id=row.id, completed=True, completed_at=completed)
            )
        session.add(  # a newer one, not finished: does not make the old one recent
            DiagnosticResult(merchant_id=old.id, completed=False, created_at=NOW)
        )
        session.add(  # an older one before the recent one: the latest counts
            DiagnosticResult(
                merchant_id=recent.id, completed=True, completed_at=NOW - timedelta(days=500)
            )
        )
    idle10 = Segment(unfinished_checklist=CHECKLIST, checklist_idle_days=10)
    assert external_ids(services, idle10, NOW) == {"1"}
    assert external_ids(services, idle10, NOW + timedelta(days=7)) == {"1", "2"}
    year = Segment(diagnostic_older_than_days=365)
    assert external_ids(services, year, NOW) == {"4"}
    assert external_ids(services, year, NOW + timedelta(days=266)) == {"4", "5"}
    assert external_ids(services, Segment(no_diagnostic=True), NOW) == {"1", "2", "3", "6"}
    assert Segment.from_json(idle10.to_json()) == idle10
    assert Segment.from_json({"sectors": ["resto"]}) == Segment(sectors=("resto",))  # old JSON
    with pytest.raises(CampaignError, match="unfinished_checklist"):
        Segment(checklist_idle_days=10)
    with pytest.raises(CampaignError, match="positif"):
        Segment(diagnostic_older_than_days=0)


def test_before_date_window_is_read_in_paris_time(services) -> None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        merchant(session, "1")
    window = Segment(before_date="2026-09-01", days_before=60)
    # 2026-07-03 00:00 in Paris (summer time) is 2026-07-02 22:00 UTC
    opens = datetime(2026, 7, 2, 22, 0, tzinfo=UTC)
    closes = datetime(2026, 8, 31, 22, 0, tzinfo=UTC)
    assert external_ids(services, window, opens - timedelta(minutes=1)) == set()
    assert external_ids(services, window, opens) == {"1"}
    assert external_ids(services, window, closes - timedelta(minutes=1)) == {"1"}
    assert external_ids(services, window, closes) == set()
    assert Segment.from_json(window.to_json()) == window
    with pytest.raises(CampaignError, match="vont ensemble"):
        Segment(before_date="2026-09-01")
    with pytest.raises(CampaignError, match="illisible"):
        Segment(before_date="1er septembre", days_before=60)


# -- rules --------------------------------------------------------------------------------


def deliveries(services) -> list[tuple[int, str, str]]:  # type: ignore[no-untyped-def]
    """(rule id, merchant external id, status) of every delivery."""
    with services.db.session() as session:
        return list(
            session.execute(
                select(CampaignDelivery.campaign_id, Merchant.external_id, CampaignDelivery.status)
                .join(Merchant, Merchant.id == CampaignDelivery.merchant_id)
                .order_by(CampaignDelivery.campaign_id, Merchant.external_id)
            ).all()
        )


def send_all(services, now: datetime) -> list[str]:  # type: ignore[no-untyped-def]
    """What the sending job would do: claim everything, all sent; the chats reached."""
    with services.db.session() as session:
        claimed = campaigns.claim(session, limit=1000, now=now)
        for pending in claimed:
            campaigns.record(session, pending.delivery_id, "sent", now)
        return sorted(p.chat_id for p in claimed)


def test_a_rule_reaches_each_consenting_merchant_once_with_one_nudge_a_week(services) -> None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        a = merchant(session, "a")
        b = merchant(session, "b", news_consent=False)  # never nudged
        c = merchant(session, "c")
        merchant(session, "d", unreachable_at=NOW)  # blocked the bot
        for row, last_step in ((a, 12), (b, 12), (c, 3)):
            session.add(
                ChecklistRun(
                    merchant_id=row.id,
                    checklist_id=CHECKLIST,
                    updated_at=NOW - timedelta(days=last_step),
                )
            )
        idle = nudges.create_rule(
            session,
            "Votre checklist facture électronique vous attend",
            Segment(unfinished_checklist=CHECKLIST, checklist_idle_days=10),
            "t",
            approved_by="t",
            now=NOW,
        )
        assert (idle.kind, idle.status, idle.targeted) == ("rule", "active", 1)
        never = nudges.create_rule(  # everyone without a diagnostic: a, c, d
            session, "Faites le diagnostic", Segment(no_diagnostic=True), "t", "t", now=NOW
        )
        draft = nudges.create_rule(session, "Brouillon", Segment(), "t", now=NOW)
        assert draft.status == "draft"
        idle_id, never_id = idle.id, never.id

    with services.db.session() as session:
        # the older rule goes first; the weekly cap keeps the other one from a
        assert nudges.fire(session, NOW) == {idle_id: 1, never_id: 1}
    assert deliveries(services) == [(idle_id, "a", "pending"), (never_id, "c", "pending")]
    assert send_all(services, NOW) == ["a", "c"]
    with services.db.session() as session:
        assert nudges.fire(session, NOW + timedelta(hours=1)) == {idle_id: 0, never_id: 0}
        assert campaigns.finish_sent(session, NOW) == []  # rules are not finished by sends
        assert session.get(Campaign, idle_id).status == "active"

    # 8 days later: c's step is 11 days old, but c had a nudge 8 days ago: a week passed
    later = NOW + timedelta(days=8)
    with services.db.session() as session:
        assert nudges.fire(session, later) == {idle_id: 1, never_id: 1}
    assert deliveries(services) == [
        (idle_id, "a", "sent"),
        (idle_id, "c", "pending"),
        (never_id, "a", "pending"),
        (never_id, "c", "sent"),
    ]
    assert send_all(services, later) == ["a", "c"]
    with services.db.session() as session:  # once per merchant per rule, for good
        assert nudges.fire(session, later + timedelta(days=30)) == {idle_id: 0, never_id: 0}
        figures = campaigns.status(session, idle_id)
    assert figures is not None
    assert (figures["kind"], figures["targeted"], figures["sent"]) == ("rule", 2, 2)


def test_paused_ended_and_future_rules_do_not_send(services) -> None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        merchant(session, "1")
        paused = nudges.create_rule(session, "P", Segment(), "t", "t", now=NOW)
        future = nudges.create_rule(
            session, "F", Segment(), "t", "t", starts_at=NOW + timedelta(days=1), now=NOW
        )
        ending = nudges.create_rule(
            session, "E", Segment(), "t", "t", ends_at=NOW + timedelta(hours=1), now=NOW
        )
        with pytest.raises(CampaignError, match="après son début"):
            nudges.create_rule(session, "X", Segment(), "t", "t", ends_at=NOW, now=NOW)
        paused.status = "paused"
        ids = paused.id, future.id, ending.id
    paused_id, future_id, ending_id = ids
    with services.db.session() as session:
        assert nudges.fire(session, NOW) == {ending_id: 1}
        ending = session.get(Campaign, ending_id)
        ending.status = "paused"  # its pending delivery waits
    assert send_all(services, NOW) == []
    with services.db.session() as session:
        session.get(Campaign, ending_id).status = "active"
    with services.db.session() as session:
        # past its end with a delivery still pending: still active, so the delivery goes
        assert nudges.fire(session, NOW + timedelta(hours=2)) == {}
        assert session.get(Campaign, ending_id).status == "active"
    assert send_all(services, NOW + timedelta(hours=2)) == ["1"]
    with services.db.session() as session:
        nudges.fire(session, NOW + timedelta(hours=3))
        assert session.get(Campaign, ending_id).status == "done"
        # the future rule starts a day later, but the weekly cap holds it a week
        assert nudges.fire(session, NOW + timedelta(days=2)) == {future_id: 0}
        assert nudges.fire(session, NOW + timedelta(days=8)) == {future_id: 1}
        assert session.get(Campaign, paused_id).status == "paused"


def test_a_rule_approved_as_scheduled_becomes_active_not_a_campaign(services) -> None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        merchant(session, "1")
        rule = nudges.create_rule(session, "R", Segment(), "t", now=NOW)
        rule.status, rule.scheduled_at = "scheduled", NOW  # approved the campaigns' way
        assert campaigns.start_due(session, NOW) == []
        assert rule.status == "active"
        assert session.scalar(select(func.count()).select_from(CampaignDelivery)) == 0
        other = nudges.create_rule(session, "S", Segment(), "t", now=NOW)
        other.status = "active"  # activated by hand, without a start date: from now
        assert nudges.fire(session, NOW) == {rule.id: 1, other.id: 0}  # the weekly cap


def test_the_rule_job_runs_once_per_period_across_workers(services) -> None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        for i in range(20):
            merchant(session, str(i))
        nudges.create_rule(session, "R", Segment(), "t", "t", now=NOW)
        # the job's row exists after its first run: the second worker skips it, not waits
        session.add(ScheduledJob(name=nudges.JOB_NAME))
    if services.db.shared_by_workers:
        # two workers at the same moment: the second skips the job the first holds
        with services.db.session() as one, services.db.session() as two:
            assert nudges.fire_if_due(one, NOW) is not None
            assert nudges.fire_if_due(two, NOW) is None
        # and two evaluating the rules themselves: the rows the first holds are skipped
        with services.db.session() as session:
            session.execute(CampaignDelivery.__table__.delete())
        with services.db.session() as one, services.db.session() as two:
            assert sum(nudges.fire(one, NOW).values()) == 20
            assert nudges.fire(two, NOW) == {}
    else:
        with services.db.session() as session:
            assert nudges.fire_if_due(session, NOW) is not None
    assert len(deliveries(services)) == 20  # one each
    with services.db.session() as session:
        assert nudges.fire_if_due(session, NOW + timedelta(minutes=4)) is None  # not due
        assert nudges.fire_if_due(session, NOW + nudges.RULE_EVERY) is not None
        assert (
            session.scalar(
                select(ScheduledJob.last_run_at).where(ScheduledJob.name == nudges.JOB_NAME)
            )
            is not None
        )
    assert len(deliveries(services)) == 20


def test_rule_command_creates_an_active_rule_and_follows_it(services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        for i, days in enumerate((15, 15, 2)):
            row = merchant(session, str(i))
            session.add(
                ChecklistRun(
                    merchant_id=row.id,
                    checklist_id=CHECKLIST,
                    updated_at=datetime.now(UTC) - timedelta(days=days),
                )
            )
    message = tmp_path / "relance.html"
    message.write_text("Il vous reste quelques étapes : <b>/progression</b>", encoding="utf-8")
    env = {"COMPTOIR_DATABASE_URL": services.db.url, "COMPTOIR_DATA_DIR": str(tmp_path)}
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        done = runner.invoke(app, ["--env-file", str(tmp_path / "none"), *args], env=env)
        assert done.exit_code == 0, done.output
        return json.loads(done.stdout)

    made = invoke(
        "campaign", "rule", "--text-file", str(message), "--unfinished-checklist", CHECKLIST,
        "--idle-days", "10", "--ends-at", "2030-01-01T00:00", "--json",
    )  # fmt: skip
    assert made["matching"] == 2
    with services.db.session() as session:
        rule = session.get(Campaign, made["id"])
        assert (rule.kind, rule.status, rule.approved_by) == ("rule", "active", "cli")
        assert rule.segment["checklist_idle_days"] == 10
        nudges.fire(session)
    figures = invoke("campaign", "status", str(made["id"]), "--json")
    assert (figures["kind"], figures["targeted"], figures["pending"]) == ("rule", 2, 2)
    assert figures["ends_at"].startswith("2029-12-31T23:00")
    soon = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    window = invoke(
        "campaign", "rule", "--text-file", str(message), "--unfinished-checklist", CHECKLIST,
        "--before-date", soon, "--days-before", "60", "--json",
    )  # fmt: skip
    assert window["matching"] == 3  # today is within 60 days before the date
    passed = invoke(
        "campaign", "rule", "--text-file", str(message), "--unfinished-checklist", CHECKLIST,
        "--before-date", "2020-09-01", "--days-before", "60", "--json",
    )  # fmt: skip
    assert passed["matching"] == 0
    refused = runner.invoke(
        app,
        ["--env-file", str(tmp_path / "none"), "campaign", "rule", "--text-file", str(message),
         "--idle-days", "10"],
        env=env,
    )  # fmt: skip
    assert refused.exit_code == 1 and "unfinished-checklist" in refused.output
