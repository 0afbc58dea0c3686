"""The `comptoir` command: one entry point for merchants' bot, staff tools and operators."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from knowledge_base.cli import app as kb_app
from nlu.cli import app as nlu_app

from .config import ConfigError, Settings

app = typer.Typer(
    help="Comptoir : l'assistant numérique indépendant des TPE/PME françaises.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(nlu_app, name="nlu", help="Compréhension du langage : entraîner, évaluer, analyser.")
app.add_typer(kb_app, name="kb", help="Base de connaissances : valider, indexer, chercher.")


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
    ctx.obj = settings


def _services(ctx: typer.Context, **overrides: object):  # type: ignore[no-untyped-def]
    from .services import build_services

    settings: Settings = ctx.obj
    if overrides:
        settings = settings.with_overrides(**overrides)
    return build_services(settings, log=lambda m: typer.echo(m, err=True))


@app.command()
def chat(ctx: typer.Context) -> None:
    """Parler à l'assistant dans le terminal (sans Telegram)."""
    from .assistant import Assistant
    from .channels.terminal import chat as run_chat

    run_chat(Assistant(_services(ctx)))


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
        reply_jsonl(Assistant(_services(ctx, database_url=url)))


@app.command()
def run(ctx: typer.Context) -> None:
    """Lancer le bot (Telegram si un jeton est configuré, sinon la conversation locale)."""
    settings: Settings = ctx.obj
    if not settings.telegram_token:
        typer.echo(
            "Aucun jeton Telegram (COMPTOIR_TELEGRAM_TOKEN) : démarrage de la conversation "
            "locale.\nPour Telegram : créez un bot avec @BotFather, copiez le jeton dans .env "
            "(voir .env.example), puis relancez `comptoir run`.\n",
            err=True,
        )
        chat(ctx)
        return
    from .assistant import Assistant
    from .channels.telegram import run_telegram

    run_telegram(Assistant(_services(ctx)))


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
    from .store.retention import purge as run_purge

    settings: Settings = ctx.obj
    database = Database(settings.resolved_database_url)
    database.migrate()
    with database.session() as session:
        counts = run_purge(session, settings.retention_days)
    typer.echo(", ".join(f"{name} : {count}" for name, count in counts.items()))
