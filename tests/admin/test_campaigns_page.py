"""The campaigns pages over HTTP (Starlette's test client), on SQLite and PostgreSQL: who may
do what, the composer's count and preview, approval by a second administrator, the lifecycle
buttons, the test send, the results page, the CSV export and the audit trail."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from bot import campaigns, nudges
from bot.admin.auth import create_user
from bot.store.models import (
    AuditEvent,
    Campaign,
    CampaignDelivery,
    ChecklistRun,
    Merchant,
    OutboxMessage,
    as_utc,
    utcnow,
)

from .conftest import PASSWORD, csrf_of, sign_in

SECOND_ADMIN = "bruno@cci.example.fr"


def consenting(services, *chats: str, trade: str = "resto") -> list[int]:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        rows = [
            Merchant(
                channel="telegram", external_id=c, trade=trade, news_consent=True, flow_state={}
            )
            for c in chats
        ]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def form(csrf: str, **fields: str | list[str]) -> dict[str, str | list[str]]:
    values: dict[str, str | list[str]] = {
        "csrf_token": csrf,
        "title": "Atelier facture électronique",
        "text": "<b>Atelier</b> jeudi 12 à 18 h : 1 &lt; 2 & c'est gratuit.",
        "sector": ["resto"],
        "button_label_1": "S'inscrire",
        "button_kind_1": "url",
        "button_target_1": "https://cci.example.fr/atelier",
        "button_row_1": "1",
        "when": "approval",
        "action": "save",
    }
    values.update(fields)
    return values


def actions(services) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        return [
            (e.action, e.staff_email)
            for e in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.like("campaign_%"))
                .order_by(AuditEvent.id)
            )
        ]


def test_support_cannot_see_campaigns(app, accounts) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    sign_in(client, accounts.support)
    assert client.get("/campaigns").status_code == 403
    assert client.get("/campaigns/new").status_code == 403
    assert "Campagnes" not in client.get("/conversations").text


def test_composer_counts_previews_and_keeps_a_refused_form(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    consenting(admin_services, "1001", "1002")
    consenting(admin_services, "1003", trade="alim")
    client = TestClient(app)
    csrf = sign_in(client, accounts.operator)
    assert 'href="/campaigns"' in client.get("/conversations").text  # the nav entry
    page = client.post("/campaigns/new", data=form(csrf, action="count"))
    assert page.status_code == 200
    assert re.search(r'id="matching"><strong>2</strong>', page.text)
    bubble = page.text.split('id="preview"')[1]
    assert "<b>Atelier</b>" in bubble and "1 &lt; 2 &amp; c&#x27;est gratuit" in bubble
    assert "Ne plus recevoir" in bubble and "S&#39;inscrire" in bubble
    with admin_services.db.session() as session:
        assert session.scalars(select(Campaign)).all() == []  # counting saves nothing
    refused = client.post(
        "/campaigns/new",
        data=form(csrf, text='Bonjour <script>alert("x")</script>', title="Essai XSS"),
    )
    assert refused.status_code == 422
    assert "HTML refusé par Telegram" in refused.text and "&lt;script&gt;" in refused.text
    assert "<script>alert" not in refused.text  # kept in the form, escaped
    assert 'value="Essai XSS"' in refused.text
    assert re.search(r'id="matching"><strong>2</strong>', refused.text)  # counted all the same
    too_long = client.post("/campaigns/new", data=form(csrf, text="a" * 4096))
    assert too_long.status_code == 422 and "Texte trop long" in too_long.text
    bad_button = client.post(
        "/campaigns/new",
        data=form(csrf, button_kind_1="guide", button_target_1="guide-inconnu"),
    )
    assert bad_button.status_code == 422 and "guide-inconnu" in bad_button.text
    saved = client.post("/campaigns/new", data=form(csrf), follow_redirects=False)
    assert saved.status_code == 303
    campaign_page = client.get(saved.headers["location"])
    assert "Brouillon enregistré" in campaign_page.text
    with admin_services.db.session() as session:
        campaign = session.scalars(select(Campaign)).one()
        assert (campaign.status, campaign.created_by, campaign.targeted) == (
            "draft",
            accounts.operator,
            2,
        )
        assert campaign.buttons[0][0]["kind"] == "url"
        assert campaign.segment["sectors"] == ["resto"]
    assert actions(admin_services) == [("campaign_save", accounts.operator)]


def test_preview_never_runs_what_the_text_holds(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    with admin_services.db.session() as session:  # tags Telegram accepts, hostile attributes
        campaign_id = campaigns.create(
            session,
            '<a href="javascript:alert(1)" onclick="alert(2)">lien</a> '
            '<b onmouseover="alert(3)">gras</b> &lt;script&gt;alert(4)&lt;/script&gt;',
            campaigns.Segment(),
            created_by=accounts.operator,
        ).id
    client = TestClient(app)
    sign_in(client, accounts.operator)
    bubble = client.get(f"/campaigns/{campaign_id}").text.split('id="preview"')[1]
    assert "javascript:" not in bubble and "onclick" not in bubble and "onmouseover" not in bubble
    assert "<a>lien</a>" in bubble and "<b>gras</b>" in bubble
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in bubble and "<script" not in bubble


def test_only_another_admin_approves(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    consenting(admin_services, "2001")
    with admin_services.db.session() as session:
        create_user(session, SECOND_ADMIN, PASSWORD, "admin", "Bruno Admin")
    operator = TestClient(app)
    csrf = sign_in(operator, accounts.operator)
    location = operator.post("/campaigns/new", data=form(csrf), follow_redirects=False)
    base = location.headers["location"].split("?")[0]
    campaign_id = int(base.rsplit("/", 1)[1])
    assert "Soumettre" in operator.get(base).text
    operator.post(f"{base}/submit", data={"csrf_token": csrf})
    assert "En attente de l'approbation" in operator.get(base).text
    assert operator.post(f"{base}/approve", data={"csrf_token": csrf}).status_code == 403
    # An admin who edited it may not approve it either: write one as the admin and try.
    admin = TestClient(app)
    admin_csrf = sign_in(admin, accounts.admin)
    own = admin.post("/campaigns/new", data=form(admin_csrf), follow_redirects=False)
    own_base = own.headers["location"].split("?")[0]
    admin.post(f"{own_base}/submit", data={"csrf_token": admin_csrf})
    assert "un autre administrateur doit" in admin.get(own_base).text
    refused = admin.post(f"{own_base}/approve", data={"csrf_token": admin_csrf})
    assert refused.status_code == 422 and "un autre administrateur" in refused.text
    # The first admin rejects the operator's campaign with a reason; it comes back as draft.
    rejected = admin.post(f"{base}/reject", data={"csrf_token": admin_csrf, "reason": ""})
    assert rejected.status_code == 422 and "pourquoi" in rejected.text
    admin.post(f"{base}/reject", data={"csrf_token": admin_csrf, "reason": "<i>Date</i> ?"})
    page = operator.get(base).text
    assert "Refusée : &lt;i&gt;Date&lt;/i&gt; ?" in page and "Soumettre" in page
    operator.post(f"{base}/submit", data={"csrf_token": csrf})
    # A second admin approves with a date in Paris time (winter: UTC+1).
    second = TestClient(app)
    second_csrf = sign_in(second, SECOND_ADMIN)
    at = (
        (utcnow() + timedelta(days=30))
        .astimezone(campaigns.PARIS)
        .replace(hour=9, minute=30, second=0, microsecond=0)
    )
    approved = second.post(
        f"{base}/approve", data={"csrf_token": second_csrf, "at": at.strftime("%Y-%m-%dT%H:%M")}
    )
    assert approved.status_code == 200 and "approuvée et programmée" in approved.text
    assert f"{at:%d/%m/%Y} 09:30 (heure de Paris)" in approved.text
    with admin_services.db.session() as session:
        campaign = session.get(Campaign, campaign_id)
        assert (campaign.status, campaign.approved_by) == ("scheduled", SECOND_ADMIN)
        assert as_utc(campaign.scheduled_at) == at
    listing = operator.get("/campaigns").text
    assert "Programmée" in listing and SECOND_ADMIN in listing
    assert actions(admin_services) == [
        ("campaign_save", accounts.operator),
        ("campaign_submit", accounts.operator),
        ("campaign_save", accounts.admin),
        ("campaign_submit", accounts.admin),
        ("campaign_reject", accounts.admin),
        ("campaign_submit", accounts.operator),
        ("campaign_approve", SECOND_ADMIN),
    ]


def started(services, operator: str, admin: str, chats: int = 3) -> int:  # type: ignore[no-untyped-def]
    """A campaign approved and being sent, as the worker's start_due leaves it."""
    consenting(services, *(f"30{n}" for n in range(chats)))
    with services.db.session() as session:
        campaign = campaigns.create(
            session, "<b>Salon</b> du numérique", campaigns.Segment(), created_by=operator
        )
        campaign.title, campaign.status, campaign.approved_by = "Salon", "scheduled", admin
        campaign.scheduled_at = utcnow()
        session.flush()
        campaign_id = campaign.id
    with services.db.session() as session:
        assert campaigns.start_due(session) == [campaign_id]
    return campaign_id


def test_pause_resume_cancel_and_test_send(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    campaign_id = started(admin_services, accounts.operator, accounts.admin)
    client = TestClient(app)
    csrf = sign_in(client, accounts.operator)
    base = f"/campaigns/{campaign_id}"
    assert "En pause" in client.post(f"{base}/pause", data={"csrf_token": csrf}).text
    with admin_services.db.session() as session:
        assert campaigns.claim(session) == []
    assert "Campagne reprise" in client.post(f"{base}/resume", data={"csrf_token": csrf}).text
    twice = client.post(f"{base}/resume", data={"csrf_token": csrf})
    assert twice.status_code == 422 and "Rechargez la page" in twice.text
    sent = client.post(f"{base}/test", data={"csrf_token": csrf, "merchant": "300"})
    assert "Test mis en file" in sent.text
    unknown = client.post(f"{base}/test", data={"csrf_token": csrf, "merchant": "nobody"})
    assert unknown.status_code == 422 and "Aucun commerçant" in unknown.text
    assert 'value="nobody"' in unknown.text
    cancelled = client.post(f"{base}/cancel", data={"csrf_token": csrf})
    assert "Annulée" in cancelled.text
    with admin_services.db.session() as session:
        statuses = set(
            session.scalars(
                select(CampaignDelivery.status).where(CampaignDelivery.campaign_id == campaign_id)
            )
        )
        assert statuses == {"cancelled"}
        test_rows = session.scalars(select(OutboxMessage)).all()
        assert [r.kind for r in test_rows] == ["campaign_test"]
    assert [a for a, _ in actions(admin_services)] == [
        "campaign_pause",
        "campaign_resume",
        "campaign_test",
        "campaign_cancel",
    ]


def test_results_page_and_csv(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    campaign_id = started(admin_services, accounts.operator, accounts.admin, chats=4)
    with admin_services.db.session() as session:
        held = campaigns.claim(session, limit=4)
        for pending in held[:2]:
            campaigns.record(session, pending.delivery_id, "sent")
        campaigns.record(session, held[2].delivery_id, "unreachable")
        first = session.get(CampaignDelivery, held[0].delivery_id)
        first.pressed_at = utcnow()
        merchant_id = first.merchant_id
    client = TestClient(app)
    sign_in(client, accounts.operator)
    page = client.get(f"/campaigns/{campaign_id}/results")
    assert page.status_code == 200

    def figure(name: str) -> list[str]:
        row = page.text.split(f'data-figure="{name}">')[1].split("</tr>")[0]
        return re.findall(r"<td>([^<]*)</td>", row)

    assert figure("targeted")[1] == "4"
    assert figure("sent")[1:] == ["2", "50 % des visés"]
    assert figure("unreachable")[1:] == ["1", "25 % des visés"]
    assert figure("pending")[1] == "1"
    assert figure("pressed")[1:] == ["1", "50 % des envoyés"]
    export = client.get(f"/campaigns/{campaign_id}/results.csv")
    assert export.headers["content-type"].startswith("text/csv")
    assert f'filename="campagne-{campaign_id}.csv"' in export.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert sorted(r["status"] for r in rows) == ["pending", "sent", "sent", "unreachable"]
    pressed = next(r for r in rows if int(r["merchant_id"]) == merchant_id)
    assert pressed["pressed_at"] and pressed["sent_at"] and pressed["asked_within_24h"] == "0"
    assert "Salon" not in export.text  # ids and times, no text
    with admin_services.db.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "campaign_export")
        ).one()
        assert event.target == f"campaign:{campaign_id}" and event.detail["rows"] == 4
    assert csrf_of(client, "/campaigns")


def test_a_draft_is_edited_with_its_values_kept(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    guide = next(iter(admin_services.kb.guides))
    axis = admin_services.kb.diagnostic.axes[0].id
    client = TestClient(app)
    csrf = sign_in(client, accounts.operator)
    fields = form(
        csrf,
        button_label_2="Le guide",
        button_kind_2="guide",
        button_target_2=guide,
        button_row_2="1",  # beside the first one
        button_label_3="Mon diagnostic",
        button_kind_3="diagnostic",
        button_row_3="2",
        sells_online="non",
        seen_within_days="90",
        tags="salon, vip",
        when="at",
        at="2030-07-01T09:30",
        **{f"axis_{axis}": "40"},
    )
    saved = client.post("/campaigns/new", data=fields, follow_redirects=False)
    base = saved.headers["location"].split("?")[0]
    with admin_services.db.session() as session:
        campaign = session.scalars(select(Campaign)).one()
        assert campaign.buttons == [
            [
                {
                    "label": "S'inscrire",
                    "kind": "url",
                    "target": "https://cci.example.fr/atelier",
                },
                {"label": "Le guide", "kind": "guide", "target": guide},
            ],
            [{"label": "Mon diagnostic", "kind": "diagnostic", "target": ""}],
        ]
        assert campaign.segment["sells_online"] is False
        assert campaign.segment["axis_below"] == {axis: 40.0}
        assert campaign.segment["tags"] == ["salon", "vip"]
        assert as_utc(campaign.scheduled_at).isoformat() == "2030-07-01T07:30:00+00:00"
    page = client.get(f"{base}/edit").text  # summer time in Paris: UTC+2
    assert 'value="2030-07-01T09:30"' in page and f'value="{guide}"' in page
    assert 'value="salon, vip"' in page and 'name="seen_within_days" value="90"' in page
    assert 'name="button_row_2" value="1"' in page
    assert "01/07/2030 09:30 (heure de Paris)" in client.get(base).text
    fields["title"] = "Titre corrigé"
    client.post(f"{base}/edit", data=fields)
    client.post(f"{base}/submit", data={"csrf_token": csrf})
    assert client.get(f"{base}/edit", follow_redirects=False).status_code == 303  # frozen
    late = client.post(f"{base}/edit", data=fields)
    assert late.status_code == 422 and "Rechargez la page" in late.text
    with admin_services.db.session() as session:
        campaign = session.scalars(select(Campaign)).one()
        assert (campaign.title, campaign.status) == ("Titre corrigé", "submitted")


def idle_checklist(services, checklist: str, **chats_days: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Consenting merchants (chat id -> internal id) who started `checklist` and last
    pressed a step N days ago."""
    ids = dict(zip(chats_days, consenting(services, *chats_days), strict=True))
    with services.db.session() as session:
        for chat, days in chats_days.items():
            session.add(
                ChecklistRun(
                    merchant_id=ids[chat],
                    checklist_id=checklist,
                    updated_at=utcnow() - timedelta(days=days),
                )
            )
    return ids


def rule_form(csrf: str, checklist: str, **fields: str | list[str]) -> dict[str, str | list[str]]:
    values = form(
        csrf,
        kind="rule",
        title="Relance e-facture",
        unfinished_checklist=checklist,
        checklist_idle_days="10",
        ends_at="2030-07-01T18:00",
    )
    values.update(fields)
    return values


def test_a_rule_is_composed_kept_approved_and_paused(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    checklist = sorted(admin_services.kb.checklists)[0]
    ids = idle_checklist(admin_services, checklist, c_idle=20, c_busy=2)
    consenting(admin_services, "c_none")  # never started it
    with admin_services.db.session() as session:
        create_user(session, SECOND_ADMIN, PASSWORD, "admin", "Bruno Admin")
    client = TestClient(app)
    csrf = sign_in(client, accounts.operator)
    counted = client.post("/campaigns/new", data=rule_form(csrf, checklist, action="count"))
    assert counted.status_code == 200
    assert re.search(
        r'id="matching"><strong>1</strong>[^<]*la recevraient maintenant', counted.text
    )
    assert "au plus une relance par semaine et par commerçant" in counted.text
    # The rule's criteria on a one-off campaign are refused, not dropped.
    mixed = client.post("/campaigns/new", data=rule_form(csrf, checklist, kind="campaign"))
    assert mixed.status_code == 422 and "relance automatique" in mixed.text
    assert 'name="checklist_idle_days" value="10"' in mixed.text  # kept as typed
    lonely = client.post("/campaigns/new", data=rule_form(csrf, checklist, unfinished_checklist=""))
    assert lonely.status_code == 422 and "choisissez aussi la checklist" in lonely.text
    backwards = client.post(
        "/campaigns/new",
        data=rule_form(csrf, checklist, when="at", at="2030-08-01T09:00"),
    )
    assert backwards.status_code == 422 and "après son début" in backwards.text
    saved = client.post("/campaigns/new", data=rule_form(csrf, checklist), follow_redirects=False)
    assert saved.status_code == 303
    base = saved.headers["location"].split("?")[0]
    rule_id = int(base.rsplit("/", 1)[1])
    with admin_services.db.session() as session:
        rule = session.get(Campaign, rule_id)
        assert (rule.kind, rule.status, rule.targeted) == ("rule", "draft", 1)
        assert rule.segment["unfinished_checklist"] == checklist
        assert rule.segment["checklist_idle_days"] == 10
        assert as_utc(rule.ends_at).isoformat() == "2030-07-01T16:00:00+00:00"
    edit = client.get(f"{base}/edit").text  # every rule field comes back
    assert re.search(r'value="rule"\s+checked', edit)
    assert 'name="checklist_idle_days" value="10"' in edit
    assert 'name="ends_at" value="2030-07-01T18:00"' in edit
    assert f'value="{checklist}" selected' in edit
    page = client.get(base).text
    assert "01/07/2030 18:00 (heure de Paris)" in page and "depuis 10 jours" in page
    assert "au plus une fois" in page
    client.post(f"{base}/submit", data={"csrf_token": csrf})
    # Another administrator approves it: scheduled now, then active once the worker starts it.
    second = TestClient(app)
    second_csrf = sign_in(second, SECOND_ADMIN)
    approved = second.post(f"{base}/approve", data={"csrf_token": second_csrf, "at": ""})
    assert "Relance approuvée" in approved.text
    with admin_services.db.session() as session:
        rule = session.get(Campaign, rule_id)
        assert (rule.status, rule.approved_by) == ("scheduled", SECOND_ADMIN)
    with admin_services.db.session() as session:
        assert campaigns.start_due(session) == []  # a rule is not frozen: it becomes active
        assert session.get(Campaign, rule_id).status == "active"
    with admin_services.db.session() as session:
        assert nudges.fire(session) == {rule_id: 1}
    active = client.get(base).text
    assert 'id="status">Active' in active and 'id="pause"' in active
    assert re.search(r'id="reached">1<', active)
    assert re.search(r'id="targeted">0<', active)  # the idle merchant already has it
    listing = client.get("/campaigns").text
    row = listing.split('data-kind="rule"')[1].split("</tr>")[0]
    assert "Relance automatique" in row and "1 atteints" in row
    paused = client.post(f"{base}/pause", data={"csrf_token": csrf})
    assert "Relance en pause" in paused.text and 'id="resume"' in paused.text
    with admin_services.db.session() as session:
        assert session.get(Campaign, rule_id).status == "paused"
        assert campaigns.claim(session) == []  # a paused rule's copy waits
    resumed = client.post(f"{base}/resume", data={"csrf_token": csrf})
    assert "Relance reprise" in resumed.text
    with admin_services.db.session() as session:
        assert session.get(Campaign, rule_id).status == "active"
        held = campaigns.claim(session)
        assert [p.chat_id for p in held] == ["c_idle"]
        assert session.get(CampaignDelivery, held[0].delivery_id).merchant_id == ids["c_idle"]
        campaigns.record(session, held[0].delivery_id, "sent")
    results = client.get(f"{base}/results").text
    targeted = results.split('data-figure="targeted">')[1].split("</tr>")[0]
    assert re.findall(r"<td>([^<]*)</td>", targeted)[-2] == "1"
    assert "100 % des visés" in results  # sent: 1 of the 1 reached
    assert [a for a, _ in actions(admin_services)] == [
        "campaign_save",
        "campaign_submit",
        "campaign_approve",
        "campaign_pause",
        "campaign_resume",
    ]
    cancelled = client.post(f"{base}/cancel", data={"csrf_token": csrf})
    assert "Relance annulée" in cancelled.text
    with admin_services.db.session() as session:
        assert nudges.fire(session) == {}  # a cancelled rule sends nothing more
