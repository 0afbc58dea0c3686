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
