"""A campaign in headless Chromium, against a real `comptoir run` (bot + back office) talking
to the loopback Bot API: an operator composes it, sees the count and the preview, test-sends
it and submits it; an administrator approves it with a date; when the date comes the running
worker sends it, a merchant asks a question, and the results page shows the figures. Then a
nudge rule: composed with its own criteria and end date, approved by another administrator,
made active by the running worker, paused and resumed (its firing is tested in
tests/bot/test_nudges.py)."""

from __future__ import annotations

from datetime import timedelta

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.select import Select
from sqlalchemy import select, update

from bot.admin.auth import create_user
from bot.campaigns import PARIS
from bot.store.models import Campaign, CampaignDelivery, ChecklistRun, Merchant, utcnow
from tests.admin.test_browser import (  # noqa: F401 - fixtures
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    ARTIFACTS,
    Page,
    browser,
    product,
)

OPERATOR = "operateur@cci.example.fr"
RESTO_A, RESTO_B, GROCER, SILENT = 7780001, 7780002, 7780003, 7780004
TEXT = "<b>Atelier facture électronique</b> jeudi à 18 h, à la CCI."


def sign_in(page: Page, email: str, password: str) -> None:
    page.open("/login")
    page.find("input[name=email]").send_keys(email)
    page.find("input[name=password]").send_keys(password)
    page.click("form[action='/login'] button")
    page.find("header.top")


def test_compose_approve_send_and_read_results(browser: WebDriver, product, api) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    base, database = product
    page = Page(browser, base, ARTIFACTS / "screenshots")
    # Merchants say yes to the news on "Telegram"; one does not.
    for chat in (RESTO_A, RESTO_B, GROCER):
        api.push_text(chat, "/actus oui")
    api.push_text(SILENT, "bonjour")
    for chat in (RESTO_A, RESTO_B, GROCER, SILENT):
        api.wait_messages(chat, 1, timeout=60)
    with database.session() as session:
        create_user(session, OPERATOR, ADMIN_PASSWORD, "operator", "Olivier Opérateur")
        session.execute(  # their /start profile, in short
            update(Merchant)
            .where(Merchant.external_id.in_([str(RESTO_A), str(RESTO_B), str(SILENT)]))
            .values(trade="resto")
        )
        session.execute(
            update(Merchant).where(Merchant.external_id == str(GROCER)).values(trade="alim")
        )

    # The operator composes: count and preview first, nothing sent.
    sign_in(page, OPERATOR, ADMIN_PASSWORD)
    page.click("header nav a[href='/campaigns']")
    page.click("#new-campaign")
    page.find("input[name=title]").send_keys("Atelier e-facture")
    page.find("textarea[name=text]").send_keys(TEXT)
    page.find("input[name=sector][value=resto]").click()
    page.find("input[name=button_label_1]").send_keys("S'inscrire")
    page.find("input[name=button_target_1]").send_keys("https://cci.example.fr/atelier")
    page.click("#count-button")
    assert page.find("#matching").text.startswith("2 commerçant(s)")
    bubble = page.find("#preview")
    assert bubble.find_element(By.CSS_SELECTOR, ".tg-bubble b").text.startswith("Atelier")
    assert "Ne plus recevoir" in bubble.text and "S'inscrire" in bubble.text
    page.shot("campagne-01-composer")
    page.click("#save-button")
    page.wait_text("Brouillon enregistré.")
    campaign_url = browser.current_url.split("?")[0]
    campaign_id = int(campaign_url.rsplit("/", 1)[1])

    # A test to the operator's own chat (here the grocer's), through the outbox.
    page.find("#test-form input[name=merchant]").send_keys(str(GROCER))
    page.click("#test-send")
    page.wait_text("Test mis en file")
    api.wait_for(lambda: any("Atelier facture" in s.text for s in api.messages_to(GROCER)), 30)
    page.click("#submit")
    page.wait_text("Campagne soumise")
    assert page.find("#status").text == "En attente d'approbation"
    page.click("form[action='/logout'] button")

    # The administrator approves it for tomorrow 09:30, Paris time.
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.open(f"/campaigns/{campaign_id}")
    tomorrow = (utcnow() + timedelta(days=1)).astimezone(PARIS)
    when = tomorrow.strftime("%Y-%m-%dT09:30")
    page.find("#approve-form input[name=at]")
    browser.execute_script(
        "document.querySelector('#approve-form input[name=at]').value = arguments[0]", when
    )
    page.shot("campagne-02-approbation")
    page.click("#approve")
    page.wait_text("Campagne approuvée et programmée.")
    assert page.find("#scheduled").text == f"{tomorrow:%d/%m/%Y} 09:30 (heure de Paris)"
    page.open("/campaigns")
    row = page.find("#campaigns tr[data-status=scheduled]")
    assert "Programmée" in row.text and ADMIN_EMAIL in row.text and OPERATOR in row.text

    # Its time comes: the running worker starts it and sends it to the segment only.
    with database.session() as session:
        session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(scheduled_at=utcnow() - timedelta(seconds=1))
        )

    def settled() -> bool:
        with database.session() as session:
            statuses = session.scalars(
                select(CampaignDelivery.status).where(CampaignDelivery.campaign_id == campaign_id)
            ).all()
        return len(statuses) == 2 and set(statuses) == {"sent"}

    api.wait_for(settled, 60)
    for chat in (RESTO_A, RESTO_B):
        assert any("Atelier facture" in s.text for s in api.messages_to(chat))
    assert not any("Atelier facture" in s.text for s in api.messages_to(SILENT))
    # One merchant asks a question after reading it.
    before = api.count_to(RESTO_A)
    api.push_text(RESTO_A, "c'est payant l'atelier ?")
    api.wait_messages(RESTO_A, before + 1, timeout=60)

    page.open(f"/campaigns/{campaign_id}/results")
    figures = {
        row.get_attribute("data-figure"): row.find_elements(By.TAG_NAME, "td")[1].text
        for row in browser.find_elements(By.CSS_SELECTOR, "#results tr[data-figure]")
    }
    assert figures["targeted"] == "2" and figures["sent"] == "2"
    assert figures["asked_within_24h"] == "1" and figures["pending"] == "0"
    page.wait_text("50 % des envoyés")
    page.shot("campagne-03-resultats")


def test_compose_approve_and_pause_a_rule(browser: WebDriver, product, api) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    base, database = product
    page = Page(browser, base, ARTIFACTS / "screenshots")
    for chat in (RESTO_A, RESTO_B):
        api.push_text(chat, "/actus oui")
    for chat in (RESTO_A, RESTO_B):
        api.wait_messages(chat, 1, timeout=60)
    with database.session() as session:
        create_user(session, OPERATOR, ADMIN_PASSWORD, "operator", "Olivier Opérateur")
        merchants = {
            m.external_id: m.id
            for m in session.scalars(
                select(Merchant).where(Merchant.external_id.in_([str(RESTO_A), str(RESTO_B)]))
            )
        }
        for chat, days in ((RESTO_A, 15), (RESTO_B, 3)):  # idle 15 days; busy 3 days ago
            session.add(
                ChecklistRun(
                    merchant_id=merchants[str(chat)],
                    checklist_id="facture-electronique",
                    updated_at=utcnow() - timedelta(days=days),
                )
            )
    ends = (utcnow() + timedelta(days=90)).astimezone(PARIS).replace(hour=18, minute=0)

    # The operator composes a rule: checklist unfinished and idle 10 days, an end date.
    sign_in(page, OPERATOR, ADMIN_PASSWORD)
    page.open("/campaigns/new")
    page.find("input[name=kind][value=rule]").click()
    page.find("input[name=title]").send_keys("Relance e-facture")
    page.find("textarea[name=text]").send_keys(
        "Où en êtes-vous de la <b>facture électronique</b> ?"
    )
    Select(page.find("select[name=unfinished_checklist]")).select_by_value("facture-electronique")
    page.find("input[name=checklist_idle_days]").send_keys("10")
    browser.execute_script(
        "document.querySelector('input[name=ends_at]').value = arguments[0]",
        ends.strftime("%Y-%m-%dT%H:%M"),
    )
    page.click("#count-button")
    assert page.find("#matching").text.startswith("1 commerçant(s)")
    assert "au plus une relance par semaine" in page.find("#rule-note").text
    page.shot("relance-01-composer")
    page.click("#save-button")
    page.wait_text("Brouillon enregistré.")
    rule_id = int(browser.current_url.split("?")[0].rsplit("/", 1)[1])
    assert page.find("#ends-at").text == f"{ends:%d/%m/%Y} 18:00 (heure de Paris)"
    page.click("#submit")
    page.wait_text("Relance soumise")
    page.click("form[action='/logout'] button")

    # Another administrator approves it from now; the running worker makes it active.
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.open(f"/campaigns/{rule_id}")
    page.click("#approve")
    page.wait_text("Relance approuvée")

    def status_is(wanted: str):  # type: ignore[no-untyped-def]
        def check() -> bool:
            with database.session() as session:
                return session.get(Campaign, rule_id).status == wanted

        return check

    api.wait_for(status_is("active"), 60)
    page.open("/campaigns")
    row = page.find("#campaigns tr[data-kind=rule]")
    assert "Relance automatique" in row.text and "Active" in row.text
    page.open(f"/campaigns/{rule_id}")
    assert page.find("#status").text.startswith("Active")
    page.click("#pause")
    page.wait_text("Relance en pause")
    assert page.find("#status").text == "En pause"
    page.shot("relance-02-en-pause")
    page.click("#resume")
    page.wait_text("Relance reprise")
    assert page.find("#status").text.startswith("Active")
    with database.session() as session:
        assert session.get(Campaign, rule_id).status == "active"
    page.click("#results-link")
    assert page.find("#results tr[data-figure=targeted]").text.startswith("Visés (atteints")
