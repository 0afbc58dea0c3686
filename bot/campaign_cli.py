"""`comptoir campaign ...`: queue the adviser's news for the merchants who accepted them, count
a segment, follow a campaign. The same code path as the back office (bot/campaigns.py); the
running `comptoir run` workers send."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from .cli_support import fail, settings_of

app = typer.Typer(no_args_is_help=True)

SectorOption = Annotated[
    list[str] | None,
    typer.Option("--sector", help="Métier du profil (alim, resto, boutique…) ; répétable."),
]
UnfinishedOption = Annotated[
    str | None, typer.Option(help="Checklist commencée et pas terminée (son identifiant).")
]
NotStartedOption = Annotated[
    str | None, typer.Option(help="Checklist jamais commencée (son identifiant).")
]
SeenOption = Annotated[
    int | None, typer.Option(help="Venus parler au bot dans les N derniers jours.")
]
OnlineOption = Annotated[
    bool | None, typer.Option("--sells-online/--not-online", help="Vend en ligne ou non.")
]
TagOption = Annotated[
    list[str] | None, typer.Option("--tag", help="Étiquette posée par l'équipe ; répétable.")
]
AxisOption = Annotated[
    list[str] | None,
    typer.Option("--axis-below", help="AXE=SCORE : dernier diagnostic sous ce score sur cet axe."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Résultat en JSON.")]


def _segment(  # type: ignore[no-untyped-def]
    sector, unfinished_checklist, not_started_checklist, seen_within_days, online, tag, axis
):
    from .campaigns import CampaignError, Segment

    below: dict[str, float] = {}
    for item in axis or []:
        name, _, score = item.partition("=")
        try:
            below[name.strip()] = float(score)
        except ValueError:
            raise CampaignError(f"--axis-below attend AXE=SCORE, pas {item!r}.") from None
    return Segment(
        sectors=tuple(sector or ()),
        sells_online=online,
        seen_within_days=seen_within_days,
        axis_below=below,
        unfinished_checklist=unfinished_checklist,
        not_started_checklist=not_started_checklist,
        tags=tuple(tag or ()),
    )


@contextmanager
def _campaign_session(ctx: typer.Context) -> Iterator[Session]:
    """One unit of work on the bot's database (migrated first, disposed after); a
    CampaignError becomes the command's error exit with its French message."""
    from .campaigns import CampaignError
    from .store.database import Database

    database = Database(settings_of(ctx).resolved_database_url)
    try:
        database.migrate()
        with database.session() as session:
            yield session
    except CampaignError as exc:
        raise fail(str(exc)) from None
    finally:
        database.dispose()


@app.command("send")
def campaign_send(
    ctx: typer.Context,
    text_file: Annotated[
        Path, typer.Option(help="Le message (HTML de Telegram : <b>, <i>, <a href>…).")
    ],
    sector: SectorOption = None,
    unfinished_checklist: UnfinishedOption = None,
    not_started_checklist: NotStartedOption = None,
    seen_within_days: SeenOption = None,
    sells_online: OnlineOption = None,
    tag: TagOption = None,
    axis_below: AxisOption = None,
    now: Annotated[bool, typer.Option("--now", help="Envoyer dès maintenant (défaut).")] = False,
    at: Annotated[
        str | None,
        typer.Option(help="Date et heure ISO ; sans décalage, heure de Paris (2026-12-24T09:30)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Créer une campagne, approuvée d'office, pour les commerçants du segment qui ont accepté
    les actualités. Cette commande ne fait que la mettre en file : ce sont les workers
    `comptoir run` qui l'envoient (au rythme COMPTOIR_CAMPAIGN_RATE), même après un
    redémarrage. Affiche {"id", "targeted"}."""
    import json

    from . import campaigns

    if now and at:
        raise fail("--now ou --at, pas les deux.")
    if not text_file.is_file():
        raise fail(f"Fichier introuvable : {text_file}")
    with _campaign_session(ctx) as session:
        segment = _segment(
            sector,
            unfinished_checklist,
            not_started_checklist,
            seen_within_days,
            sells_online,
            tag,
            axis_below,
        )
        when = campaigns.parse_when(at) if at else None
        campaign = campaigns.create(
            session,
            text_file.read_text(encoding="utf-8").strip(),
            segment,
            created_by="cli",
            approved_by="cli",
            scheduled_at=when,
        )
        if when is None:  # now: the segment is frozen at once, the count is exact
            campaigns.start(session, campaign)
        result = {"id": campaign.id, "targeted": campaign.targeted}
    if as_json:
        typer.echo(json.dumps(result))
        return
    moment = "dès maintenant" if at is None else f"le {at}"
    typer.echo(
        f"Campagne {result['id']} : {result['targeted']} commerçant(s) visé(s), envoi {moment} "
        "par les workers `comptoir run`."
    )


@app.command("rule")
def campaign_rule(
    ctx: typer.Context,
    text_file: Annotated[
        Path, typer.Option(help="Le message (HTML de Telegram : <b>, <i>, <a href>…).")
    ],
    sector: SectorOption = None,
    unfinished_checklist: UnfinishedOption = None,
    not_started_checklist: NotStartedOption = None,
    seen_within_days: SeenOption = None,
    sells_online: OnlineOption = None,
    tag: TagOption = None,
    axis_below: AxisOption = None,
    idle_days: Annotated[
        int | None,
        typer.Option(help="Avec --unfinished-checklist : dernière étape d'il y a N jours ou plus."),
    ] = None,
    diagnostic_older_than_days: Annotated[
        int | None, typer.Option(help="Dernier diagnostic terminé il y a plus de N jours.")
    ] = None,
    no_diagnostic: Annotated[
        bool, typer.Option("--no-diagnostic", help="N'a jamais terminé le diagnostic.")
    ] = False,
    before_date: Annotated[
        str | None, typer.Option(help="Date butoir (2026-09-01), avec --days-before.")
    ] = None,
    days_before: Annotated[
        int | None, typer.Option(help="La règle joue à partir de N jours avant --before-date.")
    ] = None,
    ends_at: Annotated[
        str | None,
        typer.Option(help="Fin de la règle, ISO ; sans décalage, heure de Paris."),
    ] = None,
    title: Annotated[str, typer.Option(help="Nom de la règle pour l'équipe.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Créer une relance automatique (règle), active d'office : chaque commerçant qui entre
    dans le segment (et a accepté les actualités) reçoit le message une fois, au plus une
    relance par semaine toutes règles confondues. Les workers `comptoir run` l'évaluent
    toutes les 5 minutes et l'envoient. Affiche {"id", "matching"} (qui correspond dès
    maintenant)."""
    import dataclasses
    import json

    from . import campaigns, nudges

    if not text_file.is_file():
        raise fail(f"Fichier introuvable : {text_file}")
    with _campaign_session(ctx) as session:
        segment = dataclasses.replace(
            _segment(
                sector,
                unfinished_checklist,
                not_started_checklist,
                seen_within_days,
                sells_online,
                tag,
                axis_below,
            ),
            checklist_idle_days=idle_days,
            diagnostic_older_than_days=diagnostic_older_than_days,
            no_diagnostic=no_diagnostic,
            before_date=before_date,
            days_before=days_before,
        )
        ends = campaigns.parse_when(ends_at) if ends_at else None
        rule = nudges.create_rule(
            session,
            text_file.read_text(encoding="utf-8").strip(),
            segment,
            created_by="cli",
            approved_by="cli",
            ends_at=ends,
            title=title,
        )
        result = {"id": rule.id, "matching": rule.targeted}
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(
        f"Règle {result['id']} active : {result['matching']} commerçant(s) correspondent "
        "maintenant ; les workers `comptoir run` l'évaluent toutes les 5 minutes."
    )


@app.command("count")
def campaign_count(
    ctx: typer.Context,
    sector: SectorOption = None,
    unfinished_checklist: UnfinishedOption = None,
    not_started_checklist: NotStartedOption = None,
    seen_within_days: SeenOption = None,
    sells_online: OnlineOption = None,
    tag: TagOption = None,
    axis_below: AxisOption = None,
) -> None:
    """Combien de commerçants (ayant accepté les actualités) ce segment atteindrait, sans
    rien envoyer."""
    from . import campaigns

    with _campaign_session(ctx) as session:
        segment = _segment(
            sector,
            unfinished_checklist,
            not_started_checklist,
            seen_within_days,
            sells_online,
            tag,
            axis_below,
        )
        typer.echo(campaigns.count(session, segment))


@app.command("status")
def campaign_status(
    ctx: typer.Context,
    campaign_id: Annotated[int, typer.Argument(help="Le numéro de la campagne.")],
    as_json: JsonOption = False,
) -> None:
    """Où en est une campagne ou une règle : visés (pour une règle : atteints jusqu'ici),
    envoyés, échecs, injoignables (bot bloqué), en attente ; puis les réactions : boutons,
    désinscriptions, questions dans les 24 h (comme le back office)."""
    import json

    from . import campaigns
    from .campaign_results import results

    with _campaign_session(ctx) as session:
        figures = campaigns.status(session, campaign_id)
        reactions = results(session, campaign_id)
        if figures is not None and reactions is not None:
            figures = {**reactions.as_json(), **figures}  # the existing keys unchanged
    if figures is None:
        raise fail(f"Pas de campagne {campaign_id}.")
    if as_json:
        typer.echo(json.dumps(figures))
        return
    name = "Règle" if figures.get("kind") == "rule" else "Campagne"
    typer.echo(
        f"{name} {campaign_id} ({figures['status']}) : {figures['targeted']} visés, "
        f"{figures['sent']} envoyés, {figures['failed']} échecs, {figures['unreachable']} "
        f"injoignables, {figures['skipped']} désinscrits entre-temps, {figures['pending']} "
        f"en attente, {figures['cancelled']} annulés ; {figures['pressed']} ont appuyé sur un "
        f"bouton, {figures['stopped']} ne veulent plus recevoir, {figures['asked_within_24h']} "
        "ont posé une question dans les 24 h."
    )
