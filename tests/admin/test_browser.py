"""The back office in headless Chromium (Debian's chromium + chromedriver, via Selenium),
against a real `comptoir run` process (bot + back office) talking to the loopback Bot API.

One journey, as a support agent and an operator would live it: sign in, find the
conversation that asked for an adviser, reply (the merchant receives it on "Telegram"),
hand back, correct a misunderstood message and retrain, edit a guide and see the bot's
answer change, read the dashboard. Screenshots of every main page are kept as artifacts
(COMPTOIR_TEST_ARTIFACTS, default var/test-artifacts/screenshots).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select

from bot.store.database import Database
from bot.store.models import Message
from tests.support.fake_bot_api import FakeBotAPI, start_comptoir
from tests.support.servers import free_port, wait_until_healthy

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("COMPTOIR_TEST_ARTIFACTS", REPO / "var" / "test-artifacts"))
CHAT = 7770001
STALE = (StaleElementReferenceException,)  # the page was replaced while being read
ADMIN_EMAIL = "admin@cci.example.fr"
ADMIN_PASSWORD = "un-mot-de-passe-solide"
QUESTION = "c'est quoi un bandeau cookies conforme cnil"
NEW_SUMMARY = "Cookies : « Tout refuser » doit être aussi simple que « Tout accepter » (CNIL)."


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            "Chromium is missing: install the Debian packages chromium and chromium-driver "
            "(.ci/run does it)."
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1400,1100",
        "--lang=fr-FR",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    )
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture()
def product(ready, api: FakeBotAPI, tmp_path: Path) -> Iterator[tuple[str, Database]]:  # type: ignore[no-untyped-def]
    """`comptoir run` with its own copy of the model, index and content (the journey
    retrains and publishes), a SQLite database and the back office on a free port."""
    shared = ready[0]
    data = tmp_path / "data"
    shutil.copytree(shared.resolved_nlu_model_dir, data / "models" / "nlu")
    shutil.copytree(shared.data_dir / "cache", data / "cache")
    shutil.copytree(shared.resolved_kb_index_dir, data / "index")
    content = tmp_path / "content"
    shutil.copytree(shared.kb_content_dir, content)
    db_url = f"sqlite:///{tmp_path / 'comptoir.sqlite3'}"
    port = free_port()
    process = start_comptoir(
        api,
        data,
        db_url,
        cwd=tmp_path,
        COMPTOIR_ADMIN_PORT=str(port),
        COMPTOIR_ADMIN_EMAIL=ADMIN_EMAIL,
        COMPTOIR_ADMIN_PASSWORD=ADMIN_PASSWORD,
        COMPTOIR_KB_CONTENT_DIR=str(content),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, process)
    except AssertionError:
        process.kill()
        raise
    database = Database(db_url)
    try:
        yield base, database
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        database.dispose()


class Page:
    """Small helpers over Selenium, and the screenshots."""

    def __init__(self, driver: WebDriver, base: str, shots: Path) -> None:
        self.driver, self.base, self.shots = driver, base, shots
        shots.mkdir(parents=True, exist_ok=True)

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def find(self, css: str):  # type: ignore[no-untyped-def]
        return WebDriverWait(self.driver, 20, ignored_exceptions=STALE).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
        )

    def click(self, target: str | WebElement) -> None:
        """Click something that loads another page, and wait until that page has loaded."""
        element = self.find(target) if isinstance(target, str) else target
        self._navigate(element.click)

    def submit_by_script(self, script: str) -> None:
        """Run a script that submits a form, and wait until the answer page has loaded."""
        self._navigate(lambda: self.driver.execute_script(script))

    def _navigate(self, action: Callable[[], object]) -> None:
        # The old document is marked on its window object, which a navigation replaces.
        # Waiting on the old <html> element going stale is racy: during the swap chromedriver
        # may answer "Node with given id does not belong to the document" instead of "stale".
        self.driver.execute_script("window.__comptoirLeaving = true")
        action()
        WebDriverWait(self.driver, 60).until(lambda d: self._new_page_loaded())

    def _new_page_loaded(self) -> bool:
        try:
            return bool(
                self.driver.execute_script(
                    "return !window.__comptoirLeaving && document.readyState === 'complete'"
                )
            )
        except WebDriverException:  # between two documents: not loaded yet
            return False

    def text(self) -> str:
        try:
            return str(self.driver.execute_script("return document.body.innerText") or "")
        except WebDriverException:  # the page is being replaced: read it again
            return ""

    def wait_text(self, needle: str, timeout: float = 60) -> None:
        try:
            WebDriverWait(self.driver, timeout, ignored_exceptions=STALE).until(
                lambda d: needle in self.text()
            )
        except TimeoutException:
            self.shot("echec")
            raise AssertionError(
                f"{needle!r} not shown on {self.driver.current_url}:\n{self.text()[:3000]}"
            ) from None

    def shot(self, name: str) -> None:
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))


def merchant_says(api: FakeBotAPI, text: str) -> None:
    api.push_text(CHAT, text)


def settled(api: FakeBotAPI, quiet: float = 1.5) -> list:  # type: ignore[type-arg]
    """The messages sent to the chat once the bot has stopped sending for `quiet` s."""
    seen = -1
    while api.count_to(CHAT) != seen:
        seen = api.count_to(CHAT)
        time.sleep(quiet)
    return api.messages_to(CHAT)


def latest_incoming(database: Database, text: str) -> Message | None:
    with database.session() as session:
        return session.scalars(
            select(Message)
            .where(Message.direction == "in", Message.text == text)
            .order_by(Message.id.desc())
        ).first()


def test_support_and_operator_journey_in_chromium(browser: WebDriver, product, api) -> None:  # type: ignore[no-untyped-def]
    base, database = product
    page = Page(browser, base, ARTIFACTS / "screenshots")

    # A merchant asks for a human, with HTML in the message.
    merchant_says(api, "/humain aide facture <script>alert('x')</script><b>gras</b>")
    api.wait_messages(CHAT, 1, timeout=60)

    # Nothing without signing in.
    page.open("/conversations")
    page.find("input[name=email]")
    assert "/login" in browser.current_url
    page.shot("01-connexion")
    page.find("input[name=email]").send_keys(ADMIN_EMAIL)
    page.find("input[name=password]").send_keys("mauvais-mot-de-passe")
    page.click("form[action='/login'] button")
    page.wait_text("Adresse e-mail ou mot de passe incorrect.")
    page.find("input[name=password]").send_keys(ADMIN_PASSWORD)
    page.click("form[action='/login'] button")
    page.find("#conversations")

    # The hand-off is visible at a glance, and the conversation is found by its filter.
    WebDriverWait(browser, 10, ignored_exceptions=STALE).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#handoff-count .badge").text == "1"
    )
    page.click("#handoff-count")
    page.click("#conversations a[href^='/conversations/']")
    page.find("#transcript")
    # Merchant HTML is text: no element was created from it.
    page.wait_text("<script>alert('x')</script><b>gras</b>", timeout=10)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#transcript script, #transcript b")) == 0
    page.shot("03-conversation")
    # The page follows the conversation: what the merchant writes now is announced.
    merchant_says(api, "Je suis toujours là, vous me lisez ?")
    WebDriverWait(browser, 30).until(
        expected_conditions.visibility_of_element_located((By.ID, "new-messages"))
    )
    page.click("#new-messages a")
    page.wait_text("Je suis toujours là, vous me lisez ?", timeout=10)

    # Reply as a human: the merchant receives it through the bot.
    page.find("#reply-form textarea").send_keys("Bonjour, ici Alice de la CCI. Je regarde !")
    page.click("#reply-form button")
    page.wait_text("Message mis en file")
    api.wait_for(
        lambda: any("Ici Alice" in s.text or "ici Alice" in s.text for s in api.messages_to(CHAT)),
        timeout=30,
    )
    adviser = next(s for s in api.messages_to(CHAT) if "ici Alice" in s.text)
    assert "Message d'un conseiller" in adviser.text

    # Hand back: the merchant is told, and the bot answers again.
    page.click("#hand-back")
    page.wait_text("Main rendue")
    api.wait_for(lambda: any("repasse la main" in s.text for s in api.messages_to(CHAT)), 30)
    page.wait_text("Le bot répond seul.", timeout=10)

    # A misunderstood message, disliked by the merchant, reaches the inbox.
    sentence = "mon logiciel de caisse plante tout le temps, vous connaissez autre chose ?"
    count = api.count_to(CHAT)
    merchant_says(api, sentence)
    api.wait_messages(CHAT, count + 1, timeout=30)
    answers = settled(api)
    with_feedback = [s for s in answers[count:] if any("👎" in b["text"] for b in s.buttons)]
    api.wait_for(lambda: latest_incoming(database, sentence) is not None, 10)
    first = latest_incoming(database, sentence)
    assert first is not None
    target = "find_alternative" if first.intent != "find_alternative" else "ask_payment"
    if with_feedback:
        before = api.count_to(CHAT)
        api.press(with_feedback[0], "👎")
        api.wait_messages(CHAT, before + 1, timeout=30)  # "thank you for the feedback"
    page.open("/inbox")
    row = page.find(f"#inbox-{first.id}")  # disliked, or the bot was unsure
    page.shot("04-a-revoir")
    Select(row.find_element(By.NAME, "kind")).select_by_value("intent")
    Select(row.find_element(By.NAME, "intent")).select_by_value(target)
    page.click(row.find_element(By.CSS_SELECTOR, "button"))
    page.wait_text("Correction enregistrée.")

    # Retrain in the background; the page follows the progress and shows both scores.
    page.open("/training")
    page.click("#retrain")
    page.wait_text("Réentraînement lancé.")
    page.shot("05-entrainement-en-cours")
    finished = WebDriverWait(browser, 240, ignored_exceptions=STALE).until(
        lambda d: d.find_elements(
            By.CSS_SELECTOR, "#runs tr[data-status=done], #runs tr[data-status=failed]"
        )
    )[0]
    assert "✅ Le nouveau modèle est mis en service" in finished.text, finished.text
    page.shot("06-entrainement")
    merchant_says(api, sentence)
    api.wait_for(lambda: (latest_incoming(database, sentence) or first).id != first.id, 30)
    again = latest_incoming(database, sentence)
    assert again is not None and again.intent == target

    # Edit a guide in the browser, publish, and the bot's answer changes.
    page.open("/kb?q=cookies")
    page.shot("07-base-de-connaissances")
    page.click("a[href='/kb/guide/cookies-bandeau-consentement']")
    summary = page.find("textarea[name=summary]")
    summary.clear()
    summary.send_keys(NEW_SUMMARY)
    body = page.find("#body")
    body.send_keys(" **Mise à jour**")
    WebDriverWait(browser, 10).until(
        lambda d: "Mise à jour" in d.find_element(By.ID, "preview").text
    )
    page.shot("08-editeur-guide")
    page.find("input[name=comment]").send_keys("résumé plus direct")
    page.click("#publish")
    page.wait_text("Publié")
    count = api.count_to(CHAT)
    merchant_says(api, QUESTION)
    api.wait_for(lambda: any(NEW_SUMMARY in s.text for s in api.messages_to(CHAT)[count:]), 30)
    page.open("/kb/guide/cookies-bandeau-consentement/history")
    page.wait_text("résumé plus direct")
    page.shot("09-historique")

    # The dashboard shows the activity, with charts drawn without any CDN.
    page.open("/dashboard")
    kpis = page.find("#kpis").text
    assert "messages reçus" in kpis
    assert len(browser.find_elements(By.CSS_SELECTOR, ".charts svg")) >= 4
    page.shot("02-tableau-de-bord")
    page.open("/conversations")
    page.shot("10-conversations")
    page.open("/admin/users")
    page.shot("11-comptes")
    page.open("/admin/audit")
    page.wait_text("Journal d'audit", timeout=10)
    audit = page.text()
    for label in (
        "Connexion",
        "Réponse à un commerçant",
        "Main rendue au bot",
        "Correction d'intention",
        "Réentraînement lancé",
        "Contenu publié",
    ):
        assert label in audit
    page.shot("12-journal")
    # No request left the machine: every resource came from the back office itself.
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert all(url.startswith(base) for url in resources), resources


def test_security_in_the_browser(browser: WebDriver, product) -> None:  # type: ignore[no-untyped-def]
    base, _database = product
    page = Page(browser, base, ARTIFACTS / "screenshots")
    page.open("/kb")
    assert "/login" in browser.current_url
    # A form replayed without its CSRF token is refused, even when signed in.
    page.find("input[name=email]").send_keys(ADMIN_EMAIL)
    page.find("input[name=password]").send_keys(ADMIN_PASSWORD)
    page.click("form[action='/login'] button")
    page.find("#kb-items")  # back where the sign-in started
    page.submit_by_script(
        "const f = document.createElement('form'); f.method = 'post';"
        "f.action = '/admin/settings'; const i = document.createElement('input');"
        "i.name = 'retention_days'; i.value = '40'; f.appendChild(i);"
        "document.body.appendChild(f); f.submit();"
    )
    page.wait_text("jeton de sécurité absent")
    page.shot("13-csrf-refuse")
    page.open("/admin/settings")
    assert page.find("input[name=retention_days]").get_attribute("value") == "365"
    try:
        browser.execute_script("return 1")
    except WebDriverException:  # pragma: no cover - the browser died
        pytest.fail("Chromium stopped responding")
