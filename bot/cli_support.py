"""What the `comptoir` sub-commands share: the settings read once, errors, the services."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from .config import Settings

if TYPE_CHECKING:
    from .context import Services


def settings_of(ctx: typer.Context) -> Settings:
    """The settings `comptoir`'s callback read (or the environment's, for a sub-app alone)."""
    return ctx.obj if isinstance(ctx.obj, Settings) else Settings.from_env()


def fail(message: str) -> typer.Exit:
    """Print `message` in red on stderr; raise the returned exit (code 1)."""
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


def services_of(ctx: typer.Context, **overrides: object) -> Services:
    """Every service, built from the settings with `overrides` (progress on stderr)."""
    from .services import build_services  # loads the encoder: only for commands that need it

    settings = settings_of(ctx)
    if overrides:
        settings = settings.with_overrides(**overrides)
    return build_services(settings, log=lambda m: typer.echo(m, err=True))
