"""The `comptoir` command: one entry point for merchants' bot, staff tools and operators."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from .campaign_cli import app as campaign_app
from .cli_support import services_of
from .config import ConfigError, Settings
from .kb_cli import app as kb_app
from .nlu_cli import app as nlu_app

app = typer.Typer(
    help="Comptoir : l'assistant numérique indépendant des TPE/PME françaises.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(nlu_app, name="nlu", help="Compréhension du langage : entraîner, évaluer, analyser.")
app.add_typer(kb_app, name="kb", help="Base de connaissances : valider, indexer, chercher.")
admin_app = typer.Typer(no_args_is_help=True)
app.add_typer(admin_app, name="admin", help="Back office : comptes de l'équipe, serveur web.")
app.add_typer(
    campaign_app,
    name="campaign",
    help="Campagnes : les actualités du conseiller aux commerçants qui les ont acceptées.",
)


@app.callback()
def main(
    ctx: typer.Context,
    env_file: Annotated[Path, typer.Option(help="Fichier de configuration COMPTOIR_*.")] = Path(
        ".env"
    ),
) -> None:
    """Lire la configuration (variables COMPTOIR_* et fichier .env) une seule fois."""
    try:
        settings = Settings.from_env(env_file=env_file)
    except ConfigError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every Bot API call at INFO (three lines a button press), with the bot's
    # token in the URL: only its warnings.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.root.level))
    ctx.obj = settings


@app.command()
def chat(ctx: typer.Context) -> None:
    """Parler à l'assistant dans le terminal (sans Telegram)."""
    from .assistant import Assistant
    from .channels.terminal import chat as run_chat

    run_chat(Assistant(services_of(ctx)))


@app.command()
def reply(
    ctx: typer.Context,
    jsonl: Annotated[
        bool,
        typer.Option("--jsonl", help='Lire des lignes {"user", "text"} sur l\'entrée standard.'),
    ] = True,
    db: Annotated[
        str | None, typer.Option(help="URL de base de données ; par défaut une base temporaire.")
    ] = None,
) -> None:
    """Faire passer des messages par l'assistant complet et écrire ses réponses en JSON."""
    import tempfile

    from .assistant import Assistant
    from .channels.terminal import reply_jsonl

    with tempfile.TemporaryDirectory(prefix="comptoir-reply-") as tmp:
        url = db or f"sqlite:///{Path(tmp) / 'reply.sqlite3'}"
        # Lines are a script, not a person typing: no flood control.
        reply_jsonl(Assistant(services_of(ctx, database_url=url, flood_max_messages=0)))


@app.command()
def run(ctx: typer.Context) -> None:
    """Lancer le bot (Telegram, sinon conversation locale) et le back office web."""
    from .assistant import Assistant

    settings: Settings = ctx.obj
    services = services_of(ctx)
    admin = _start_admin(services)
    try:
        if not settings.telegram_token:
            typer.echo(
                "Aucun jeton Telegram (COMPTOIR_TELEGRAM_TOKEN) : démarrage de la conversation "
                "locale.\nPour Telegram : créez un bot avec @BotFather, copiez le jeton dans "
                ".env (voir .env.example), puis relancez `comptoir run`.\n",
                err=True,
            )
            from .channels.terminal import chat as run_chat

            run_chat(Assistant(services))
            return
        from .channels.telegram import run_telegram

        run_telegram(Assistant(services))
    finally:
        if admin is not None:
            admin.stop()


def _start_admin(services):  # type: ignore[no-untyped-def]
    settings: Settings = services.settings
    if settings.admin_port == 0:
        return None
    from .admin.background import BackgroundAdmin

    return BackgroundAdmin(
        services, settings.admin_host, settings.admin_port, lambda m: typer.echo(m, err=True)
    ).start()


@app.command()
def check(
    ctx: typer.Context,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="Pas de sortie, seulement le code de retour.")
    ] = False,
) -> None:
    """Vérifier la configuration : base de données, modèle, index (code 0 si tout va bien)."""
    from knowledge_base.index import current_version

    from .store.database import Database

    settings: Settings = ctx.obj
    checks = {
        "base de données": Database(settings.resolved_database_url).ping(),
        "index de recherche": current_version(settings.resolved_kb_index_dir) is not None,
        "contenu": settings.kb_content_dir.is_dir(),
    }
    if not quiet:
        for name, ok in checks.items():
            typer.echo(f"{'✓' if ok else '✗'} {name}")
    raise typer.Exit(code=0 if all(checks.values()) else 1)


@app.command()
def purge(ctx: typer.Context) -> None:
    """Effacer ce qui dépasse la durée de conservation (COMPTOIR_RETENTION_DAYS)."""
    from .store.database import Database
    from .store.retention import purge_as_configured

    settings: Settings = ctx.obj
    database = Database(settings.resolved_database_url)
    database.migrate()
    with database.session() as session:
        counts = purge_as_configured(session, settings.retention_days)
    typer.echo(", ".join(f"{name} : {count}" for name, count in counts.items()))


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Mettre le schéma de la base à jour : une seule fois avant de démarrer plusieurs workers
    (des migrations lancées côte à côte sur une base neuve se heurtent)."""
    from sqlalchemy.exc import SQLAlchemyError

    from .store.database import Database

    settings: Settings = ctx.obj
    database = Database(settings.resolved_database_url)
    try:
        database.migrate()
        revision = database.revision()
    except SQLAlchemyError as exc:
        typer.secho(
            f"Migration impossible : {str(exc).splitlines()[0]}\nVérifiez "
            "COMPTOIR_DATABASE_URL et que la base de données est joignable.",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(code=1) from None
    finally:
        database.dispose()
    typer.echo(f"Schéma de la base à jour (révision {revision}).")


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Lire le mot de passe sur l'entrée standard.")
]


def _change_account(ctx: typer.Context, from_stdin: bool, prompt: str, change) -> None:  # type: ignore[no-untyped-def]
    """Read a password (never from the command line), apply `change(session, password)`."""
    import sys

    from .admin.auth import AccountError
    from .store.database import Database

    settings: Settings = ctx.obj
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    database = Database(settings.resolved_database_url)
    database.migrate()
    try:
        with database.session() as session:
            change(session, password)
    except AccountError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from None


@admin_app.command("create-user")
def create_user_command(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="Adresse e-mail (identifiant de connexion).")],
    role: Annotated[str, typer.Option(help="support, operator ou admin.")] = "support",
    name: Annotated[str, typer.Option(help="Nom affiché.")] = "",
    password_stdin: PasswordStdin = False,
) -> None:
    """Créer un compte pour le back office (mot de passe demandé, jamais en argument)."""
    from .admin.auth import create_user, normalise_email

    _change_account(
        ctx,
        password_stdin,
        "Mot de passe",
        lambda session, password: create_user(session, email, password, role, name),
    )
    typer.echo(f"Compte {normalise_email(email)} ({role}) créé.")


@admin_app.command("set-password")
def set_password_command(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="Adresse e-mail du compte.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Changer le mot de passe d'un compte (et le réactiver) : pour qui est bloqué dehors."""
    from .admin.auth import normalise_email, reset_password

    _change_account(
        ctx,
        password_stdin,
        "Nouveau mot de passe",
        lambda session, password: reset_password(session, email, password),
    )
    typer.echo(f"Mot de passe de {normalise_email(email)} changé ; ses sessions sont fermées.")


@admin_app.command("serve")
def serve_command(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Adresse d'écoute.")] = None,
    port: Annotated[int | None, typer.Option(help="Port d'écoute.")] = None,
) -> None:
    """Servir le back office seul (sans le bot), par exemple contre un PostgreSQL partagé."""
    from .admin.server import ensure_first_admin, make_server

    settings: Settings = ctx.obj
    services = services_of(ctx)
    if hint := ensure_first_admin(services):
        typer.echo(hint, err=True)
    host = host or settings.admin_host
    port = port or settings.admin_port
    typer.echo(f"Back office : http://{host}:{port}/", err=True)
    make_server(services, host, port).run()
