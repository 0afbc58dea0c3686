"""The back office over HTTP (Starlette's test client), on SQLite and PostgreSQL: access
rules, CSRF, throttling, escaping, and every staff action with its effect in the database,
the bot and the content folder."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from bot.assistant import Assistant
from bot.messages import Incoming
from bot.store.models import (
    AnswerLabel,
    AuditEvent,
    ContentRevision,
    HandoffRequest,
    IntentCorrection,
    LoginAttempt,
    Merchant,
    Message,
    OutboxMessage,
)
from nlu.training_data import load_training_data

from .conftest import PASSWORD, csrf_of, sign_in

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def add_conversation(
    services, name: str = "Zoé", text: str = "je veux vendre en ligne", **message
) -> int:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        merchant = Merchant(channel="telegram", external_id=f"{name}-1", first_name=name)
        session.add(merchant)
        session.flush()
        session.add(Message(merchant_id=merchant.id, direction="in", text=text, **message))
        return merchant.id


def test_nothing_is_reachable_without_signing_in(app, accounts) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    public = {"/login", "/healthz", "/metrics"}
    checked = 0
    for route in app.routes:
        if isinstance(route, Mount) or not isinstance(route, Route) or route.path in public:
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in route.methods or ():
            if method == "HEAD":
                continue
            response = client.request(method, path, follow_redirects=False)
            assert response.status_code in (303, 401), (method, path, response.status_code)
            if method == "GET":
                assert response.headers["location"].startswith("/login?next=")
            checked += 1
    assert checked >= 30


def test_sign_in_out_and_wrong_password(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    bad = client.post(
        "/login",
        data={"csrf_token": token, "email": accounts.support, "password": "mauvais mot de passe"},
    )
    assert bad.status_code == 401
    assert "Adresse e-mail ou mot de passe incorrect." in bad.text
    ok = client.post(
        "/login",
        data={
            "csrf_token": token,
            "email": accounts.support.upper(),
            "password": PASSWORD,
            "next": "/conversations",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/conversations"
    session_cookie = ok.headers["set-cookie"]
    assert "comptoir_session=" in session_cookie
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    assert "Secure" not in session_cookie  # plain HTTP here; HTTPS gets Secure (next test)
    assert client.get("/conversations").status_code == 200
    csrf = csrf_of(client)
    client.post("/logout", data={"csrf_token": csrf})
    assert client.get("/conversations", follow_redirects=False).status_code == 303
    with admin_services.db.session() as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["login_failed", "login", "logout"]


def test_cookies_are_secure_behind_https(app, accounts) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app, base_url="https://testserver")
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    ok = client.post(
        "/login",
        data={"csrf_token": token, "email": accounts.admin, "password": PASSWORD},
        follow_redirects=False,
    )
    assert "Secure" in ok.headers["set-cookie"]


def test_open_redirect_after_sign_in_is_refused(app, accounts) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login",
        data={
            "csrf_token": token,
            "email": accounts.admin,
            "password": PASSWORD,
            "next": "//evil.example",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_brute_force_is_slowed_down(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    from bot.admin.auth import MAX_FAILURES

    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    for attempt in range(MAX_FAILURES):
        response = client.post(
            "/login",
            data={"csrf_token": token, "email": accounts.admin, "password": f"essai-{attempt}"},
        )
        assert response.status_code == 401
    # Even the right password is refused now, without being checked.
    blocked = client.post(
        "/login", data={"csrf_token": token, "email": accounts.admin, "password": PASSWORD}
    )
    assert blocked.status_code == 429
    assert "Trop de tentatives de connexion. Réessayez dans 15 minutes." in blocked.text
    # The other accounts from the same address are blocked too (one address, many e-mails).
    other = client.post(
        "/login", data={"csrf_token": token, "email": accounts.support, "password": PASSWORD}
    )
    assert other.status_code == 429
    with admin_services.db.session() as session:
        attempts = session.scalars(select(LoginAttempt.success)).all()
    assert attempts == [False] * MAX_FAILURES


def test_login_form_without_csrf_is_refused(app, accounts) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    client.get("/login")
    response = client.post("/login", data={"email": accounts.admin, "password": PASSWORD})
    assert response.status_code == 403
    assert "Formulaire expiré" in response.text


def test_post_without_csrf_token_is_refused(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    merchant_id = add_conversation(admin_services)
    client = TestClient(app)
    sign_in(client, accounts.support)
    for data in ({"text": "Bonjour"}, {"text": "Bonjour", "csrf_token": "faux"}):
        response = client.post(f"/conversations/{merchant_id}/reply", data=data)
        assert response.status_code == 403
        assert "jeton de sécurité absent" in response.text
    with admin_services.db.session() as session:
        assert session.scalars(select(OutboxMessage)).all() == []


def test_roles(app, accounts) -> None:  # type: ignore[no-untyped-def]
    support = TestClient(app)
    sign_in(support, accounts.support)
    for path in (
        "/kb",
        "/kb/guide/new",
        "/training",
        "/admin/users",
        "/admin/settings",
        "/admin/audit",
    ):
        response = support.get(path)
        assert response.status_code == 403, path
        assert "réservée au rôle" in response.text
    for path in ("/conversations", "/inbox", "/dashboard"):
        assert support.get(path).status_code == 200
    operator = TestClient(app)
    sign_in(operator, accounts.operator)
    assert operator.get("/kb").status_code == 200
    assert operator.get("/training").status_code == 200
    assert operator.get("/admin/users").status_code == 403
    # The menu only offers what the role can open.
    assert 'href="/kb"' not in support.get("/conversations").text
    assert 'href="/admin/users"' not in operator.get("/conversations").text


def test_merchant_html_is_shown_as_text_everywhere(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    merchant_id = add_conversation(
        admin_services,
        name=XSS,
        text=f"aide {XSS}",
        intent="ask_payment",
        confidence=0.2,
        answered=False,
    )
    with admin_services.db.session() as session:
        merchant = session.get(Merchant, merchant_id)
        merchant.tags = [XSS]
        merchant.staff_note = XSS
        session.add(HandoffRequest(merchant_id=merchant_id, reason=XSS))
    client = TestClient(app)
    sign_in(client, accounts.admin)
    for path in (
        "/conversations",
        f"/conversations?q={XSS[:8]}",
        f"/conversations/{merchant_id}",
        "/inbox",
        "/dashboard",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text, path
        assert "<img src=x" not in page.text, path
        assert "&lt;script&gt;alert(" in page.text, path
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_conversation_filters_and_pagination(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    from bot.admin.web import PAGE_SIZE

    for i in range(PAGE_SIZE + 3):
        add_conversation(
            admin_services,
            name=f"Client{i:02d}",
            text=f"bonjour numéro {i}",
            intent="greet",
            confidence=0.9,
            answered=True,
        )
    unsure = add_conversation(
        admin_services,
        name="Hésitant",
        text="euh truc machin",
        intent="ask_gdpr",
        confidence=0.2,
        answered=True,
    )
    add_conversation(
        admin_services,
        name="Déçu",
        text="comment facturer",
        intent="ask_einvoicing",
        confidence=0.9,
        feedback=-1,  # stored on the question whose answer was rated
    )
    waiting = add_conversation(admin_services, name="Pressé", text="je veux un humain")
    with admin_services.db.session() as session:
        session.add(HandoffRequest(merchant_id=waiting))
    client = TestClient(app)
    sign_in(client, accounts.support)

    def names(query: str) -> list[str]:
        page = client.get(f"/conversations?{query}").text
        return re.findall(r'<a href="/conversations/\d+">([^<]+)</a>', page)

    with admin_services.db.session() as session:
        for merchant in session.scalars(select(Merchant)):
            if merchant.first_name in ("Client03", "Client04"):
                merchant.tags = ["à rappeler", "facture"]
            elif merchant.first_name == "Client05":
                merchant.tags = ["à rappeler demain"]  # contains the other tag: no match
    assert sorted(names("tag=%C3%A0+rappeler")) == ["Client03", "Client04"]
    assert names("tag=100%25") == []
    assert names("status=handoff") == ["Pressé"]
    assert names("status=unanswered") == ["Hésitant"]
    assert names("status=negative") == ["Déçu"]
    assert names("topic=ask_einvoicing") == ["Déçu"]
    assert names("q=num%C3%A9ro+7") == ["Client07"]
    assert names("q=100%25") == []  # LIKE wildcards are searched literally
    first = names("")
    assert len(first) == PAGE_SIZE and first[0] == "Pressé"  # newest activity first
    second = names("page=2")
    assert len(second) == 6 and not set(first) & set(second)
    header = client.get("/conversations").text
    assert re.search(
        r'id="handoff-count"[^>]*>Conseiller demandé <span class="badge hot">1<', header
    )
    assert unsure != waiting


def test_reply_take_over_and_hand_back(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    merchant_id = add_conversation(admin_services, text="Je voudrais parler à quelqu'un")
    with admin_services.db.session() as session:
        session.get(Merchant, merchant_id).handoff_active = True
        session.add(HandoffRequest(merchant_id=merchant_id))
    client = TestClient(app)
    csrf = sign_in(client, accounts.support)
    page = client.post(
        f"/conversations/{merchant_id}/reply",
        data={"csrf_token": csrf, "text": "Bonjour, je suis Sophie. <b>ok</b>"},
    )
    assert "Message mis en file" in page.text
    assert "en attente d&#39;envoi" in page.text or "en attente d'envoi" in page.text
    # The bot stays quiet while staff have the conversation.
    assistant = Assistant(admin_services)
    assert assistant.handle(Incoming("telegram", f"{'Zoé'}-1", "text", "bonjour")) == []
    client.post(
        f"/conversations/{merchant_id}/tags",
        data={"csrf_token": csrf, "tags": "rappeler, facture, rappeler"},
    )
    client.post(
        f"/conversations/{merchant_id}/note", data={"csrf_token": csrf, "note": "Rappeler mardi"}
    )
    client.post(f"/conversations/{merchant_id}/hand-back", data={"csrf_token": csrf})
    with admin_services.db.session() as session:
        merchant = session.get(Merchant, merchant_id)
        assert merchant.handoff_active is False
        assert merchant.tags == ["rappeler", "facture"]
        assert merchant.staff_note == "Rappeler mardi"
        outbox = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [(o.kind, o.text, o.author) for o in outbox] == [
            ("staff", "Bonjour, je suis Sophie. <b>ok</b>", "Sophie Support"),
            ("handback", "", ""),
        ]
        assert session.scalars(select(HandoffRequest.status)).all() == ["closed"]
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["login", "reply", "tags", "note", "hand_back"]
    # The bot answers again.
    assert assistant.handle(Incoming("telegram", "Zoé-1", "text", "bonjour"))
    # Empty and oversized replies are refused politely.
    assert (
        client.post(
            f"/conversations/{merchant_id}/reply", data={"csrf_token": csrf, "text": "  "}
        ).status_code
        == 400
    )
    assert (
        client.post(
            f"/conversations/{merchant_id}/reply", data={"csrf_token": csrf, "text": "x" * 5000}
        ).status_code
        == 400
    )


def test_export_and_erase(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    merchant_id = add_conversation(admin_services, text="mes données")
    support = TestClient(app)
    csrf = sign_in(support, accounts.support)
    exported = support.get(f"/conversations/{merchant_id}/export")
    assert exported.headers["content-disposition"].startswith("attachment")
    payload = json.loads(exported.text)
    assert payload["messages"][0]["text"] == "mes données"
    # Erasing is for administrators, with a typed confirmation.
    assert (
        support.post(
            f"/conversations/{merchant_id}/erase", data={"csrf_token": csrf, "confirm": "EFFACER"}
        ).status_code
        == 403
    )
    admin = TestClient(app)
    csrf = sign_in(admin, accounts.admin)
    assert (
        admin.post(
            f"/conversations/{merchant_id}/erase", data={"csrf_token": csrf, "confirm": "oui"}
        ).status_code
        == 400
    )
    done = admin.post(
        f"/conversations/{merchant_id}/erase", data={"csrf_token": csrf, "confirm": "EFFACER"}
    )
    assert "toutes ses données ont été effacés" in done.text
    with admin_services.db.session() as session:
        assert session.get(Merchant, merchant_id) is None
        assert session.scalars(select(Message)).all() == []
        trail = session.scalars(select(AuditEvent).where(AuditEvent.action == "erase")).one()
        assert trail.target == f"merchant:{merchant_id}" and trail.staff_email == accounts.admin
    assert admin.get(f"/conversations/{merchant_id}").status_code == 404


def test_corrections_become_rasa_training_examples(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    add_conversation(
        admin_services,
        text="ma caisse enregistreuse bug, vous avez mieux ?",
        intent="ask_payment",
        confidence=0.3,
        answered=True,
    )
    add_conversation(
        admin_services,
        name="Léa",
        text="quelle météo demain",
        intent="ask_marketing",
        confidence=0.2,
        answered=False,
    )
    add_conversation(
        admin_services,
        name="Marc",
        text="aide pour la taxe foncière",
        intent="ask_funding_training",
        confidence=0.4,
        answered=False,
    )
    client = TestClient(app)
    csrf = sign_in(client, accounts.support)
    inbox = client.get("/inbox").text
    ids = dict(re.findall(r'<tr id="inbox-(\d+)">\s*<td><div class="text">([^<]+)<', inbox))
    assert len(ids) == 3
    by_text = {text: int(i) for i, text in ids.items()}
    client.post(
        "/inbox/correct",
        data={
            "csrf_token": csrf,
            "message_id": by_text["ma caisse enregistreuse bug, vous avez mieux ?"],
            "kind": "intent",
            "intent": "find_alternative",
        },
    )
    client.post(
        "/inbox/correct",
        data={
            "csrf_token": csrf,
            "message_id": by_text["quelle météo demain"],
            "kind": "out_of_scope",
            "intent": "greet",
        },
    )
    client.post(
        "/inbox/correct",
        data={
            "csrf_token": csrf,
            "message_id": by_text["aide pour la taxe foncière"],
            "kind": "missing_content",
            "note": "écrire un guide taxe foncière",
        },
    )
    assert (
        client.post(
            "/inbox/correct",
            data={
                "csrf_token": csrf,
                "message_id": 1,
                "kind": "intent",
                "intent": "pas_une_intention",
            },
        ).status_code
        == 400
    )
    # Reviewed messages leave the inbox.
    assert 'id="inbox-' not in client.get("/inbox").text
    data = load_training_data(admin_services.settings.resolved_nlu_corrections_file)
    assert sorted(zip(data.texts(), data.labels(), strict=True)) == [
        ("ma caisse enregistreuse bug, vous avez mieux ?", "find_alternative"),
        ("quelle météo demain", "out_of_scope"),
    ]
    with admin_services.db.session() as session:
        notes = session.scalars(
            select(IntentCorrection.note).where(IntentCorrection.kind == "missing_content")
        ).all()
    assert notes == ["écrire un guide taxe foncière"]
    operator = TestClient(app)
    sign_in(operator, accounts.operator)
    assert "écrire un guide taxe foncière" in operator.get("/training").text
    download = operator.get("/training/corrections.yml")
    assert "find_alternative" in download.text


def test_thumbs_down_answers_reach_the_inbox(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    add_conversation(
        admin_services,
        text="comment faire une facture",
        intent="ask_einvoicing",
        confidence=0.95,
        answered=True,
        feedback=-1,
    )
    client = TestClient(app)
    sign_in(client, accounts.support)
    assert "comment faire une facture" in client.get("/inbox").text


def guide_form(client: TestClient, item_id: str) -> dict[str, str]:
    page = client.get(f"/kb/guide/{item_id}").text
    fields = dict(re.findall(r'<input name="(\w+)" value="([^"]*)"', page))
    fields.update(re.findall(r'<textarea name="(\w+)"[^>]*>([^<]*)</textarea>', page))
    fields["topic"] = re.search(r'<option value="(\w+)" selected>', page).group(1)  # type: ignore[union-attr]
    fields["verified"] = re.search(r'name="verified" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    fields["base"] = re.search(r'name="base" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    fields["csrf_token"] = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    import html

    return {k: html.unescape(v) for k, v in fields.items()}


def test_publishing_a_guide_changes_the_bots_answer(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    assistant = Assistant(admin_services)
    question = Incoming("telegram", "42", "text", "c'est quoi un bandeau cookies conforme cnil")
    before = " ".join(r.plain() for r in assistant.handle(question))
    assert "Bandeau cookies" not in before
    client = TestClient(app)
    sign_in(client, accounts.operator)
    form = guide_form(client, "cookies-bandeau-consentement")
    new_summary = "Bandeau cookies : « Tout refuser » aussi visible que « Tout accepter »."
    draft = client.post(
        "/kb/guide/cookies-bandeau-consentement",
        data={**form, "summary": new_summary, "action": "draft"},
    )
    assert "Brouillon enregistré" in draft.text
    assert (
        admin_services.settings.kb_content_dir / "guides/gdpr/cookies-bandeau-consentement.md"
    ).read_text(encoding="utf-8").count(new_summary) == 0  # a draft is not published
    published = client.post(
        "/kb/guide/cookies-bandeau-consentement",
        data={**form, "summary": new_summary, "action": "publish", "comment": "plus direct"},
    )
    assert "Publié" in published.text
    file_text = (
        admin_services.settings.kb_content_dir / "guides/gdpr/cookies-bandeau-consentement.md"
    ).read_text(encoding="utf-8")
    assert new_summary in file_text
    after = " ".join(
        r.plain()
        for r in Assistant(admin_services).handle(
            Incoming("telegram", "43", "text", "c'est quoi un bandeau cookies conforme cnil")
        )
    )
    assert new_summary in after
    history = client.get("/kb/guide/cookies-bandeau-consentement/history").text
    assert "plus direct" in history and "version du dossier (git)" in history
    with admin_services.db.session() as session:
        statuses = session.scalars(
            select(ContentRevision.status).order_by(ContentRevision.id)
        ).all()
    assert statuses == ["draft", "imported", "published"]


def test_invalid_content_and_conflicts_are_refused(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    sign_in(client, accounts.operator)
    path = admin_services.settings.kb_content_dir / "guides/gdpr/cookies-bandeau-consentement.md"
    original = path.read_text(encoding="utf-8")
    form = guide_form(client, "cookies-bandeau-consentement")
    refused = client.post(
        "/kb/guide/cookies-bandeau-consentement",
        data={**form, "summary": "", "sources": "", "action": "publish"},
    )
    assert refused.status_code == 422
    assert 'id="problems"' in refused.text and "Rien n&#39;a été publié" in refused.text
    assert path.read_text(encoding="utf-8") == original
    # Someone changes the file in git meanwhile: publishing does not overwrite it.
    path.write_text(
        original.replace("## De quoi s'agit-il ?", "## De quoi parle-t-on ?"), encoding="utf-8"
    )
    conflict = client.post(
        "/kb/guide/cookies-bandeau-consentement",
        data={**form, "summary": "Autre résumé.", "action": "publish"},
    )
    assert conflict.status_code == 409
    assert "Rien n&#39;a été écrasé" in conflict.text
    assert "De quoi parle-t-on" in path.read_text(encoding="utf-8")
    assert "Autre résumé." not in path.read_text(encoding="utf-8")


def test_tool_edit_restore_and_new_checklist(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    csrf = sign_in(client, accounts.operator)
    original = admin_services.kb.tools["pennylane"].description
    page = client.get("/kb/tool/pennylane").text
    base = re.search(r'name="base" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    import html

    fields = {
        k: html.unescape(v)
        for k, v in re.findall(r'<input (?:type="\w+" )?name="(\w+)" value="([^"]*)"', page)
    }
    fields.update(
        {
            k: html.unescape(v)
            for k, v in re.findall(r'<textarea name="(\w+)"[^>]*>([^<]*)</textarea>', page)
        }
    )
    fields["category"] = "accounting-invoicing"
    fields["hosting_region"] = "europe"  # a <select>: the browser sends its value
    fields["description"] = "Logiciel français de comptabilité partagé avec l'expert-comptable."
    saved = client.post(
        "/kb/tool/pennylane", data={**fields, "csrf_token": csrf, "base": base, "action": "publish"}
    )
    assert "Publié" in saved.text, saved.text[:3000]
    assert admin_services.kb.tools["pennylane"].description.startswith(
        "Logiciel français de comptabilité partagé"
    )
    with admin_services.db.session() as session:
        imported = session.scalars(
            select(ContentRevision).where(ContentRevision.status == "imported")
        ).one()
    client.post(f"/kb/tool/pennylane/restore/{imported.id}", data={"csrf_token": csrf})
    assert admin_services.kb.tools["pennylane"].description == original
    new = client.post(
        "/kb/checklist/new",
        data={
            "csrf_token": csrf,
            "mode": "source",
            "action": "publish",
            "source": "id: pas-de-steps\ntitle: Incomplète\n",
        },
    )
    assert new.status_code == 422 and 'id="problems"' in new.text


def test_faq_entries_are_listed_created_published_and_answered(
    app, accounts, admin_services
) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    csrf = sign_in(client, accounts.operator)
    listed = client.get("/kb?kind=faq").text
    assert "Fiche FAQ" in listed and "/kb/faq/" in listed
    assert 'id="stale-items"' in listed  # the freshness list, empty on fresh content
    form = client.get("/kb/faq/new").text
    assert 'name="variants"' in form and 'name="review_by"' in form
    question = "Puis-je afficher mes tarifs uniquement sur mon site de test ?"
    fields = {
        "csrf_token": csrf,
        "base": "",
        "action": "publish",
        "id": "tarifs-site-de-test",
        "topic": "ask_website",
        "question": question,
        "variants": "tarifs seulement sur site de test\nprix affiches en ligne test",
        "answer": "Réponse de test <b>échappée</b> : le fait d'abord, puis la condition.",
        "sources": "https://www.economie.gouv.fr/",
        "verified": "2024-01-15",
        "guides": "mentions-legales-site",
    }
    published = client.post("/kb/faq/new", data=fields)
    assert "Publié" in published.text, published.text[:2000]
    entry = admin_services.kb.faq["tarifs-site-de-test"]
    assert entry.path == "faq/website.yml" and entry.guides == ("mentions-legales-site",)
    # Published means answered: the bot gives the short answer, escaped, with its source.
    [reply] = Assistant(admin_services).handle(Incoming("telegram", "77", "text", question))
    assert "&lt;b&gt;échappée&lt;/b&gt;" in reply.html and "vérifié le 15/01/2024" in reply.plain()
    # Verified almost three years ago: listed first among what to re-check.
    stale = client.get("/kb").text
    table = stale[stale.index('id="stale-items"') :]
    assert "/kb/faq/tarifs-site-de-test" in table and "15/01/2024" in table
    # A broken entry is refused with the field named.
    broken = client.post("/kb/faq/new", data={**fields, "id": "autre-fiche", "variants": "une"})
    assert broken.status_code == 422 and "variants" in broken.text


def test_right_answers_from_the_inbox_train_the_ranker(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    text = "ma vitrine en ligne affiche mal les prix sur telephone, c'est grave ?"
    add_conversation(admin_services, text=text, intent="ask_website", confidence=0.2)
    client = TestClient(app)
    csrf = sign_in(client, accounts.support)
    inbox = client.get("/inbox").text
    assert 'name="answer_id"' in inbox and '<option value="accessibilite-mobile-vitesse">' in inbox
    message_id = int(re.search(r'name="message_id" value="(\d+)"', inbox).group(1))  # type: ignore[union-attr]
    form = {"csrf_token": csrf, "message_id": message_id, "kind": "intent"}
    unknown = client.post(
        "/inbox/correct", data={**form, "intent": "ask_website", "answer_id": "n-existe-pas"}
    )
    assert unknown.status_code == 400 and "choisissez la bonne réponse" in unknown.text
    client.post(
        "/inbox/correct",
        data={**form, "intent": "ask_website", "answer_id": "accessibilite-mobile-vitesse"},
    )
    with admin_services.db.session() as session:
        label = session.scalars(select(AnswerLabel)).one()
        assert (label.doc_kind, label.doc_id, label.source) == (
            "guide",
            "accessibilite-mobile-vitesse",
            "staff",
        )
        assert label.staff_email == accounts.support and label.text == text
    # Support staff cannot retrain; an operator can, and the page says what is in service.
    assert client.post("/training/ranker", data={"csrf_token": csrf}).status_code == 403
    client.post("/logout", data={"csrf_token": csrf})
    csrf = sign_in(client, accounts.operator)
    page = client.get("/training").text
    assert 'id="labels-staff">1<' in page and "Réentraîner le classement" in page
    done = client.post("/training/ranker", data={"csrf_token": csrf})
    assert "Classement réentraîné" in done.text
    switched = admin_services.settings.retrained_kb_ranker.is_file()
    # (the page escapes the apostrophe of "l'actuel": match the words after it)
    assert ("actuel reste en service" in done.text) is not switched
    if switched:  # the new model serves this process and its figures are shown
        assert admin_services.search.ranker.report["held_out"]["mrr"] > 0
        assert "questions de test : top-1" in client.get("/training").text
    client.post("/logout", data={"csrf_token": csrf})
    sign_in(client, accounts.admin)
    assert "Classement des réponses réentraîné" in client.get("/admin/audit").text


def test_retraining_from_the_back_office(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    text = "mon logiciel de caisse plante tout le temps, vous connaissez autre chose ?"
    before = admin_services.nlu.parse(text).intent
    target = "find_alternative" if before != "find_alternative" else "ask_payment"
    add_conversation(admin_services, text=text, intent=before, confidence=0.3, answered=True)
    client = TestClient(app)
    csrf = sign_in(client, accounts.operator)
    message_id = int(
        re.search(
            r'name="message_id" value="(\d+)"',  # type: ignore[union-attr]
            client.get("/inbox").text,
        ).group(1)
    )
    client.post(
        "/inbox/correct",
        data={"csrf_token": csrf, "message_id": message_id, "kind": "intent", "intent": target},
    )
    started = client.post("/training/start", data={"csrf_token": csrf})
    assert "Réentraînement lancé." in started.text
    app.state.admin.trainer.wait(300)
    status = client.get("/training/runs/1").json()
    assert status["status"] == "done", status
    assert status["switched"] is True and status["new_accuracy"] >= status["current_accuracy"]
    assert admin_services.nlu.parse(text).intent == target
    assert "✅ Le nouveau modèle est mis en service" in client.get("/training").text


def test_accounts_settings_and_audit(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    csrf = sign_in(client, accounts.admin)
    short = client.post(
        "/admin/users",
        data={"csrf_token": csrf, "email": "new@x.fr", "password": "court", "role": "support"},
    )
    assert short.status_code == 422 and "au moins 10 caractères" in short.text
    client.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            "email": "Nouveau@X.fr",
            "password": "assez-long-pour-passer",
            "role": "support",
        },
    )
    newcomer = TestClient(app)
    sign_in(newcomer, "nouveau@x.fr", "assez-long-pour-passer")
    from bot.store.models import StaffUser

    with admin_services.db.session() as session:
        user_id = session.scalars(
            select(StaffUser.id).where(StaffUser.email == "nouveau@x.fr")
        ).one()
    client.post(f"/admin/users/{user_id}", data={"csrf_token": csrf, "role": "support"})
    # Deactivated: signed out at once.
    assert newcomer.get("/conversations", follow_redirects=False).status_code == 303
    refused = client.post("/admin/settings", data={"csrf_token": csrf, "retention_days": "5"})
    assert refused.status_code == 422
    client.post("/admin/settings", data={"csrf_token": csrf, "retention_days": "180"})
    assert 'value="180"' in client.get("/admin/settings").text
    from bot.store.retention import effective_retention_days

    with admin_services.db.session() as session:
        assert effective_retention_days(session, 365) == 180
    audit = client.get("/admin/audit").text
    for label in ("Compte créé", "Compte modifié", "Réglage modifié", "Connexion"):
        assert label in audit


def test_health_and_metrics(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    add_conversation(admin_services)
    client = TestClient(app)
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    metrics = client.get("/metrics").text
    assert "comptoir_messages 1" in metrics and "comptoir_database_up 1" in metrics
    assert "comptoir_admin_requests_total" in metrics
    # The vector cache's counters are this process's: one turn's encoding shows up.
    admin_services.query_vectors.vector("Bonjour")
    admin_services.query_vectors.vector(" Bonjour ")
    metrics = client.get("/metrics").text
    assert "comptoir_vector_cache_hits_total 1\n" in metrics
    assert "comptoir_vector_cache_misses_total 1\n" in metrics


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_database_gone_gives_a_clear_page(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    sign_in(client, accounts.support)
    from bot.store.database import Database

    admin_services.db = Database("postgresql+psycopg://postgres@127.0.0.1:1/test")  # nobody
    response = client.get("/conversations")
    assert response.status_code == 503
    assert "La base de données ne répond pas" in response.text
    assert client.get("/healthz").status_code == 503


def test_changing_ones_own_password(app, accounts) -> None:  # type: ignore[no-untyped-def]
    laptop, phone = TestClient(app), TestClient(app)
    csrf = sign_in(laptop, accounts.support)
    sign_in(phone, accounts.support)
    wrong = laptop.post(
        "/account",
        data={
            "csrf_token": csrf,
            "current": "pas le bon",
            "new": "nouveau-mot-de-passe",
            "confirm": "nouveau-mot-de-passe",
        },
    )
    assert wrong.status_code == 422 and "Le mot de passe actuel est incorrect." in wrong.text
    mismatch = laptop.post(
        "/account",
        data={
            "csrf_token": csrf,
            "current": PASSWORD,
            "new": "nouveau-mot-de-passe",
            "confirm": "autre",
        },
    )
    assert mismatch.status_code == 422 and "pas identiques" in mismatch.text
    done = laptop.post(
        "/account",
        data={
            "csrf_token": csrf,
            "current": PASSWORD,
            "new": "nouveau-mot-de-passe",
            "confirm": "nouveau-mot-de-passe",
        },
    )
    assert "Mot de passe changé" in done.text
    assert laptop.get("/conversations").status_code == 200  # this browser stays signed in
    assert phone.get("/conversations", follow_redirects=False).status_code == 303  # the other not
    fresh = TestClient(app)
    sign_in(fresh, accounts.support, "nouveau-mot-de-passe")


def test_a_floods_surplus_is_shown_to_staff_and_kept_out_of_the_inbox(
    app, accounts, admin_services
) -> None:  # type: ignore[no-untyped-def]
    admin_services.settings = admin_services.settings.with_overrides(flood_max_messages=2)
    assistant = Assistant(admin_services)
    for i in range(5):
        assistant.handle(Incoming("telegram", "77", "text", f"vite vite {i}", first_name="Léa"))
    with admin_services.db.session() as session:
        merchant_id = session.scalar(select(Merchant.id).where(Merchant.external_id == "77"))
    client = TestClient(app)
    sign_in(client, accounts.support)
    page = client.get(f"/conversations/{merchant_id}").text
    for i in range(5):
        assert f"vite vite {i}" in page  # every message is there for staff
    assert page.count("afflux, non traité") == 3
    assert "Doucement" in page
    assert "vite vite 4" not in client.get("/inbox").text  # not a misunderstanding


def test_transcript_polling_reports_new_messages(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    merchant_id = add_conversation(admin_services, text="première question")
    client = TestClient(app)
    sign_in(client, accounts.support)
    page = client.get(f"/conversations/{merchant_id}").text
    shown = int(re.search(r'data-last-id="(\d+)"', page).group(1))  # type: ignore[union-attr]
    assert client.get(f"/conversations/{merchant_id}/latest").json() == {
        "last_id": shown,
        "open_handoffs": 0,
    }
    with admin_services.db.session() as session:
        session.add(Message(merchant_id=merchant_id, direction="in", text="et aussi…"))
        session.add(HandoffRequest(merchant_id=merchant_id))
    state = client.get(f"/conversations/{merchant_id}/latest").json()
    assert state["last_id"] > shown and state["open_handoffs"] == 1
    assert client.get("/conversations/999999/latest").status_code == 404


def test_a_draft_can_be_discarded(app, accounts, admin_services) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    sign_in(client, accounts.operator)
    form = guide_form(client, "cookies-bandeau-consentement")
    client.post(
        "/kb/guide/cookies-bandeau-consentement",
        data={**form, "summary": "Un brouillon à jeter.", "action": "draft"},
    )
    editor = client.get("/kb/guide/cookies-bandeau-consentement").text
    assert 'id="draft-notice"' in editor and "Un brouillon à jeter." in editor
    listed = re.compile(r'cookies-bandeau-consentement">[^<]+</a> <span class="tag">brouillon')
    assert listed.search(client.get("/kb?q=cookies").text)
    csrf = csrf_of(client, "/kb")
    done = client.post("/kb/guide/cookies-bandeau-consentement/discard", data={"csrf_token": csrf})
    assert "Brouillon abandonné" in done.text
    assert 'id="draft-notice"' not in done.text and "Un brouillon à jeter." not in done.text
    assert (
        "brouillon abandonné" in client.get("/kb/guide/cookies-bandeau-consentement/history").text
    )


def test_unknown_content_kind_is_a_404_on_every_editor_page(app, accounts) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    csrf = sign_in(client, accounts.operator)
    for path in ("/kb/recette/new", "/kb/recette/x", "/kb/recette/x/history"):
        page = client.get(path)
        assert page.status_code == 404 and "Type de contenu inconnu" in page.text
    for path in ("/kb/recette/x/delete", "/kb/recette/x/discard", "/kb/recette/x/restore/1"):
        response = client.post(path, data={"csrf_token": csrf})
        assert response.status_code == 404 and "Type de contenu inconnu" in response.text
