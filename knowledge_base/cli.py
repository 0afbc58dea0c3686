"""`comptoir kb ...`: validate the content, (re)build the index, search it."""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from bot.config import Settings
from nlu.encoder import Encoder, encode_query, make_encoder

from .freshness import DEFAULT_MONTHS, stale_items
from .index import SearchIndexError, build_index, current_version
from .loader import load_knowledge_base
from .passages import Passage, faq_passages, knowledge_base_passages
from .ranker import Ranker
from .search import SearchIndex
from .service import build_knowledge_index

app = typer.Typer(help="Base de connaissances : valider, indexer, chercher.", no_args_is_help=True)


def _settings(ctx: typer.Context) -> Settings:
    return ctx.obj if isinstance(ctx.obj, Settings) else Settings.from_env()


def _fail(message: str) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


def _build_encoder(settings: Settings) -> Encoder:
    # Building is batch work: use every core (a query at run time uses one).
    threads = max(settings.encoder_threads, os.cpu_count() or 1)
    return make_encoder(settings.encoder, settings.encoder_model, threads)


def _progress_bar(total: int, label: str) -> tqdm:
    return tqdm(total=total, desc=label, unit="passage", file=sys.stderr, leave=False, disable=None)


@app.command()
def validate(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Résultat en JSON.")] = False,
) -> None:
    """Vérifier tout le contenu : chaque problème avec son fichier et son champ.

    Les faits vérifiés il y a plus de 12 mois sont signalés (avertissement, pas erreur)."""
    settings = _settings(ctx)
    kb, problems = load_knowledge_base(settings.kb_content_dir)
    stale = stale_items(kb, date.today())
    counts = kb.counts()
    if as_json:
        report = {
            **counts,
            "faq_by_topic": kb.faq_by_topic(),
            "stale": len(stale),
            "errors": [p.to_dict() for p in problems],
            "warnings": [item.to_dict() for item in stale],
        }
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        typer.echo(
            f"{counts['guides']} guides, {counts['faq']} fiches FAQ, {counts['tools']} outils "
            f"dans {counts['categories']} catégories, {counts['checklists']} checklists, "
            f"{counts['diagnostic_questions']} questions de diagnostic."
        )
        for problem in problems:
            typer.secho(f"  ✗ {problem}", err=True, fg=typer.colors.RED)
        for item in stale:
            typer.secho(f"  ⚠ {item.path} [{item.id}] : {item.reason}", err=True)
        if stale:
            typer.echo(f"{len(stale)} élément(s) à revérifier : `comptoir kb stale`.")
        typer.echo("Contenu valide." if not problems else f"{len(problems)} problème(s).")
    if problems:
        raise typer.Exit(code=1)


@app.command()
def stale(
    ctx: typer.Context,
    months: Annotated[
        int, typer.Option("--months", min=1, help="Vérifié il y a plus de N mois.")
    ] = DEFAULT_MONTHS,
    as_json: Annotated[bool, typer.Option("--json", help="Résultat en JSON.")] = False,
) -> None:
    """Lister ce qu'il faut revérifier (guides, fiches FAQ, outils), le plus ancien d'abord."""
    settings = _settings(ctx)
    kb, problems = load_knowledge_base(settings.kb_content_dir)
    items = stale_items(kb, date.today(), months)
    if as_json:
        typer.echo(json.dumps([item.to_dict() for item in items], ensure_ascii=False))
    else:
        for item in items:
            typer.echo(f"{item.verified}  {item.kind:<5}  {item.id}  ({item.path}) : {item.reason}")
        typer.echo(f"{len(items)} élément(s) à revérifier." if items else "Tout est à jour.")
    if problems:
        typer.secho(
            f"{len(problems)} problème(s) dans le contenu : `comptoir kb validate`.",
            err=True,
            fg=typer.colors.RED,
        )


@app.command()
def reindex(ctx: typer.Context) -> None:
    """Reconstruire l'index de recherche (incrémental, remplacement atomique)."""
    settings = _settings(ctx)
    encoder = _build_encoder(settings)
    kb, problems = load_knowledge_base(settings.kb_content_dir)
    if problems:
        for problem in problems:
            typer.secho(f"  ✗ {problem}", err=True, fg=typer.colors.RED)
        raise _fail(
            f"{len(problems)} problème(s) dans le contenu : l'index actuel reste en "
            "service. Corrigez-les (comptoir kb validate) puis relancez."
        )
    passages = knowledge_base_passages(kb)
    bar = _progress_bar(len(passages), "Indexation")
    try:
        manifest = build_knowledge_index(settings, encoder, kb, passages, progress=bar.update)
    finally:
        bar.close()
    typer.echo(
        f"Index {manifest['version']} : {manifest['passages']} passages "
        f"({manifest['encoded_vectors']} encodés, {manifest['reused_vectors']} réutilisés) "
        f"en {manifest['timings_s']['total']} s."
    )  # type: ignore[index]


@app.command()
def build(
    ctx: typer.Context,
    docs: Annotated[
        Path, typer.Option(help='FAQ en JSONL : {"id","title","text"[,"url"]} par ligne.')
    ],
    out: Annotated[Path, typer.Option(help="Dossier de l'index à créer ou mettre à jour.")],
) -> None:
    """Indexer n'importe quelle FAQ (import générique, benchmarks)."""
    settings = _settings(ctx)
    try:
        passages: list[Passage] = faq_passages(docs)
    except (OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    encoder = _build_encoder(settings)
    bar = _progress_bar(len(passages), "Indexation")
    try:
        manifest = build_index(
            passages, encoder, out, source=str(docs), kind="faq", progress=bar.update
        )
    finally:
        bar.close()
    typer.echo(
        f"Index {out} : {sum(manifest['documents'].values())} documents, "  # type: ignore[union-attr]
        f"{manifest['passages']} passages "
        f"en {manifest['timings_s']['total']} s."
    )  # type: ignore[index]


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="La question.")] = None,
    index: Annotated[
        Path | None, typer.Option(help="Dossier d'index ; par défaut celui du contenu intégré.")
    ] = None,
    k: Annotated[int, typer.Option("-k", help="Nombre de résultats.")] = 5,
    topic: Annotated[str | None, typer.Option(help="Thème (intention ask_*) à favoriser.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Résultats en JSON.")] = False,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help='Lire des lignes {"text"} sur l\'entrée standard.')
    ] = False,
    use_ranker: Annotated[
        bool, typer.Option("--ranker/--no-ranker", help="Réordonner avec le modèle appris.")
    ] = True,
) -> None:
    """Chercher dans la base (hybride : sens + mots, puis le classement appris), comme le
    fait le bot."""
    settings = _settings(ctx)
    if query is None and not jsonl:
        raise _fail("Donnez une question entre guillemets, ou --jsonl pour lire l'entrée standard.")
    root = index or settings.resolved_kb_index_dir
    encoder = make_encoder(settings.encoder, settings.encoder_model, settings.encoder_threads)
    if index is None and current_version(root) is None:
        typer.echo("Pas encore d'index : construction (une à deux minutes)...", err=True)
        kb, problems = load_knowledge_base(settings.kb_content_dir)
        if problems:
            raise _fail(f"{len(problems)} problème(s) dans le contenu : comptoir kb validate")
        build_knowledge_index(settings, encoder, kb, knowledge_base_passages(kb))
    try:
        searcher = SearchIndex.load(root)
    except SearchIndexError as exc:
        raise _fail(str(exc)) from None
    if searcher.encoder_id != encoder.id:
        raise _fail(
            f"L'index a été construit avec {searcher.encoder_id}, pas {encoder.id} : "
            "reconstruisez-le (comptoir kb reindex)."
        )

    ranker_file = settings.resolved_kb_ranker if use_ranker else None
    ranker = Ranker.load(ranker_file) if ranker_file else None

    def run(text: str) -> list[dict[str, object]]:
        hits = searcher.search(text, encode_query(encoder, text), topic=topic, k=k, ranker=ranker)
        return [h.to_dict() for h in hits]

    if not jsonl:
        hits = run(query or "")
        if as_json:
            typer.echo(json.dumps({"text": query, "hits": hits}, ensure_ascii=False))
            return
        for rank, hit in enumerate(hits, start=1):
            where = f" › {hit['section']}" if hit["section"] else ""
            typer.echo(f"{rank}. [{hit['kind']}] {hit['title']}{where}  ({hit['score']:.2f})")
            typer.echo(f"   {str(hit['passage'])[:160]}")
        return
    for line_no, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            text = str(json.loads(line)["text"])
        except (ValueError, KeyError, TypeError):
            typer.echo(json.dumps({"line": line_no, "error": 'ligne JSON {"text": ...} attendue'}))
            continue
        hits = [{"id": h["id"], "title": h["title"], "score": h["score"]} for h in run(text)]
        sys.stdout.write(json.dumps({"text": text, "hits": hits}, ensure_ascii=False) + "\n")
        sys.stdout.flush()
