"""What the back office changes reaches a bot running in another process (bot.reload), and
the `comptoir admin` commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.admin.kb_editor import publish_source
from bot.context import Services
from bot.kb_eval import EVAL_DIR
from bot.ranking import retrain_ranker
from bot.reload import refresh
from bot.store.models import StaffUser
from bot.wiring import retrain_intent_model
from knowledge_base.editing import read_item
from knowledge_base.evaluation import load_queries
from nlu.corrections import write_corrections

from .conftest import private_services

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_bot_in_another_process_picks_up_publish_and_retrain(
    ready, tmp_path: Path, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    back_office = private_services(ready, tmp_path, database_url)
    # The bot: its own objects, loaded from the same folders (as a second process would).
    from knowledge_base.search import KnowledgeSearch
    from nlu.model import NLUModel

    settings = back_office.settings
    search = KnowledgeSearch(settings.resolved_kb_index_dir)
    search.reload()
    search.reload_ranker(settings.resolved_kb_ranker)  # the shipped one, as at start
    bot = Services(
        settings,
        back_office.db,
        back_office.encoder,
        NLUModel.load(settings.resolved_nlu_model_dir, back_office.encoder),
        back_office.kb,
        search,
    )
    assert refresh(bot) == []

    source = read_item(settings.kb_content_dir, "tool", "pennylane")
    edited = source.replace("Logiciel français de facturation", "Logiciel français de gestion")
    publish_source(back_office, "tool", "pennylane", edited)
    assert bot.kb.tools["pennylane"].description.startswith("Logiciel français de facturation")
    assert refresh(bot) == ["kb"]
    assert bot.kb.tools["pennylane"].description.startswith("Logiciel français de gestion")

    text = "mon logiciel de caisse plante tout le temps, vous connaissez autre chose ?"
    target = "find_alternative" if bot.nlu.parse(text).intent != "find_alternative" else "greet"
    write_corrections(settings.resolved_nlu_corrections_file, [(text, target)])
    result, _model = retrain_intent_model(settings, back_office.encoder)
    assert result.switched, result.reason
    assert refresh(bot) == ["nlu"]
    assert bot.nlu.parse(text).intent == target
    assert refresh(bot) == []

    # The back office retrains the ranker: written to the data folder, picked up here.
    # The guard keeps the ranker in service unless the new one is at least as good; the
    # shipped one was trained on another CPU, so a retrain here may land a hair below it.
    # The subject is the pickup: the back office serves the plain fused order, which a
    # trained ranker beats on any machine.
    back_office.search.ranker = None
    outcome = retrain_ranker(back_office, EVAL_DIR)
    assert outcome.switched, outcome
    assert outcome.new["mrr"] > outcome.current["mrr"]
    assert settings.retrained_kb_ranker.is_file()
    assert refresh(bot) == ["ranker"]
    assert bot.search.ranker is not None
    assert bot.search.ranker.coef == back_office.search.ranker.coef  # type: ignore[union-attr]
    assert refresh(bot) == []
    back_office.db.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_worse_ranker_stays_out_of_service_unless_forced(
    ready, tmp_path: Path, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    """The guard `comptoir kb train-ranker` (without --out) shares with the back office:
    a model trained on three questions does not replace the shipped one, unless forced."""
    services = private_services(ready, tmp_path, database_url)
    shipped = services.search.ranker
    assert shipped is not None
    few = load_queries(EVAL_DIR / "train.yml")[:3]

    kept = retrain_ranker(services, EVAL_DIR, queries=few)
    assert not kept.switched
    assert kept.new["mrr"] < kept.current["mrr"]
    assert services.search.ranker is shipped
    assert not services.settings.retrained_kb_ranker.is_file()

    forced = retrain_ranker(services, EVAL_DIR, queries=few, force=True)
    assert forced.switched
    assert forced.current == kept.current
    assert services.search.ranker is not shipped
    assert services.settings.retrained_kb_ranker.is_file()
    services.db.dispose()


def comptoir(args: list[str], tmp_path: Path, stdin: str = "", **env: str):  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "COMPTOIR_DATA_DIR": str(tmp_path / "data"), **env},
        timeout=120,
    )


def test_create_user_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'staff.sqlite3'}"
    done = comptoir(
        ["admin", "create-user", "Julie@CCI.fr", "--role", "operator", "--password-stdin"],
        tmp_path,
        stdin="un-mot-de-passe-solide\n",
        COMPTOIR_DATABASE_URL=url,
    )
    assert done.returncode == 0, done.stderr
    assert "Compte julie@cci.fr (operator) créé." in done.stdout
    again = comptoir(
        ["admin", "create-user", "julie@cci.fr", "--role", "operator", "--password-stdin"],
        tmp_path,
        stdin="un-mot-de-passe-solide\n",
        COMPTOIR_DATABASE_URL=url,
    )
    assert again.returncode == 1 and "Un compte existe déjà pour julie@cci.fr." in again.stderr
    weak = comptoir(
        ["admin", "create-user", "x@cci.fr", "--role", "chef", "--password-stdin"],
        tmp_path,
        stdin="court\n",
        COMPTOIR_DATABASE_URL=url,
    )
    assert weak.returncode == 1 and "Rôle inconnu" in weak.stderr
    reset = comptoir(
        ["admin", "set-password", "JULIE@cci.fr", "--password-stdin"],
        tmp_path,
        stdin="un-autre-mot-de-passe\n",
        COMPTOIR_DATABASE_URL=url,
    )
    assert reset.returncode == 0, reset.stderr
    assert "Mot de passe de julie@cci.fr changé" in reset.stdout
    unknown = comptoir(
        ["admin", "set-password", "personne@cci.fr", "--password-stdin"],
        tmp_path,
        stdin="un-autre-mot-de-passe\n",
        COMPTOIR_DATABASE_URL=url,
    )
    assert unknown.returncode == 1 and "Aucun compte pour personne@cci.fr." in unknown.stderr
    from bot.admin.auth import verify_password
    from bot.store.database import Database

    database = Database(url)
    with database.session() as session:
        users = session.scalars(select(StaffUser)).all()
        assert verify_password(users[0].password_hash, "un-autre-mot-de-passe")
        assert [(u.email, u.role) for u in users] == [("julie@cci.fr", "operator")]
        assert "un-mot-de-passe-solide" not in users[0].password_hash
        assert users[0].password_hash.startswith("$argon2id$")
    database.dispose()


def test_first_administrator_from_the_environment(admin_services) -> None:  # type: ignore[no-untyped-def]
    from bot.admin.server import ensure_first_admin

    services = admin_services
    hint = ensure_first_admin(services)
    assert "comptoir admin create-user" in hint
    services.settings = services.settings.with_overrides(
        admin_email="Chef@CCI.fr", admin_password="un-mot-de-passe-solide"
    )
    assert "Compte administrateur Chef@CCI.fr créé" in ensure_first_admin(services)
    assert ensure_first_admin(services) == ""  # only while there is no account at all
    with services.db.session() as session:
        assert session.scalars(select(StaffUser.role)).all() == ["admin"]


def test_admin_serve_runs_the_back_office_alone(ready, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import urllib.request

    from tests.support.servers import free_port, wait_until_healthy

    port = free_port()
    env = {
        **os.environ,
        "COMPTOIR_DATA_DIR": str(ready[0].data_dir),  # the model and index already built
        "COMPTOIR_DATABASE_URL": f"sqlite:///{tmp_path / 'admin.sqlite3'}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "admin", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process, timeout=90)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
            page = r.read().decode()
            assert "Connectez-vous" in page
            assert r.headers["X-Frame-Options"] == "DENY"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert "comptoir admin create-user" in stderr  # no account yet: it says how to make one


def test_local_chat_shows_what_an_adviser_wrote(admin_services) -> None:  # type: ignore[no-untyped-def]
    """The embedded default (terminal chat + back office): staff replies appear in the chat."""
    import io

    from bot.assistant import Assistant
    from bot.channels.terminal import chat
    from bot.store.models import Merchant, Message, OutboxMessage

    def lines():  # type: ignore[no-untyped-def]
        yield "/humain j'ai une question sur ma facture\n"
        with admin_services.db.session() as session:
            merchant = session.scalars(select(Merchant)).one()
            session.add(
                OutboxMessage(
                    merchant_id=merchant.id, author="Julie", text="Bonjour <b>!</b> je regarde."
                )
            )
        yield "merci\n"

    out = io.StringIO()
    chat(Assistant(admin_services), lines(), out)
    shown = out.getvalue()
    assert "Message d'un conseiller\nBonjour <b>!</b> je regarde." in shown
    with admin_services.db.session() as session:
        assert session.scalars(select(OutboxMessage.status)).all() == ["sent"]
        staff = session.scalars(select(Message).where(Message.author == "staff")).one()
        assert staff.text == "Bonjour <b>!</b> je regarde."
