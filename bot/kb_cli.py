"""`comptoir kb ...`: validate the content (knowledge_base/), (re)build the index, search it,
measure the bot's answers and train the ranker."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from knowledge_base.content_model import KnowledgeBase
from knowledge_base.freshness import DEFAULT_MONTHS, stale_items
from knowledge_base.index import SearchIndexError, build_index, current_version
from knowledge_base.loader import load_knowledge_base
from knowledge_base.passages import Passage, faq_passages, knowledge_base_passages
from knowledge_base.ranker import SHIPPED, Ranker
from knowledge_base.search import SearchIndex
from knowledge_base.service import build_knowledge_index
from nlu.encoder import Encoder, encode_query

from .cli_support import fail, services_of, settings_of
from .config import Settings
from .wiring import settings_encoder

app = typer.Typer(help="Base de connaissances : valider, indexer, chercher.", no_args_is_help=True)


def _build_encoder(settings: Settings) -> Encoder:
    # Building is batch work: use every core (a query at run time uses one).
    return settings_encoder(settings, threads=max(settings.encoder_threads, os.cpu_count() or 1))


def _build_index(
    settings: Settings,
    encoder: Encoder,
    kb: KnowledgeBase,
    passages: list[Passage] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, object]:
    return build_knowledge_index(
        settings.kb_content_dir, settings.resolved_kb_index_dir, encoder, kb, passages, progress
    )


def _progress_bar(total: int, label: str) -> tqdm:
    return tqdm(total=total, desc=label, unit="passage", file=sys.stderr, leave=False, disable=None)


@app.command()
def validate(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Résultat en JSON.")] = False,
) -> None:
    """Vérifier tout le contenu : chaque problème avec son fichier et son champ.

    Les faits vérifiés il y a plus de 12 mois sont signalés (avertissement, pas erreur)."""
    settings = settings_of(ctx)
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
    settings = settings_of(ctx)
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
    settings = settings_of(ctx)
    encoder = _build_encoder(settings)
    kb, problems = load_knowledge_base(settings.kb_content_dir)
    if problems:
        for problem in problems:
            typer.secho(f"  ✗ {problem}", err=True, fg=typer.colors.RED)
        raise fail(
            f"{len(problems)} problème(s) dans le contenu : l'index actuel reste en "
            "service. Corrigez-les (comptoir kb validate) puis relancez."
        )
    passages = knowledge_base_passages(kb)
    bar = _progress_bar(len(passages), "Indexation")
    try:
        manifest = _build_index(settings, encoder, kb, passages, progress=bar.update)
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
    settings = settings_of(ctx)
    try:
        passages: list[Passage] = faq_passages(docs)
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from None
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
    settings = settings_of(ctx)
    if query is None and not jsonl:
        raise fail("Donnez une question entre guillemets, ou --jsonl pour lire l'entrée standard.")
    root = index or settings.resolved_kb_index_dir
    encoder = settings_encoder(settings)
    if index is None and current_version(root) is None:
        typer.echo("Pas encore d'index : construction (une à deux minutes)...", err=True)
        kb, problems = load_knowledge_base(settings.kb_content_dir)
        if problems:
            raise fail(f"{len(problems)} problème(s) dans le contenu : comptoir kb validate")
        _build_index(settings, encoder, kb, knowledge_base_passages(kb))
    try:
        searcher = SearchIndex.load(root)
    except SearchIndexError as exc:
        raise fail(str(exc)) from None
    if searcher.encoder_id != encoder.id:
        raise fail(
            f"L'index a été construit avec {searcher.encoder_id}, pas {encoder.id} : "
            "reconstruisez-le (comptoir kb reindex)."
        )

    ranker_file = settings.resolved_kb_ranker if use_ranker else None
    ranker = Ranker.load(ranker_file) if ranker_file else None

    # No intent model here (the bot's turn runs one): the topic given, if any, is taken as
    # the intent model's certain answer, which the ranker also reads.
    intents = {topic: 1.0} if topic else None

    def run(text: str) -> list[dict[str, object]]:
        vector = encode_query(encoder, text)
        hits = searcher.search(text, vector, topic=topic, k=k, ranker=ranker, intents=intents)
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


@app.command("eval")
def evaluate_answers(
    ctx: typer.Context,
    queries: Annotated[
        Path | None,
        typer.Option(help="Questions étiquetées (YAML) ; par défaut knowledge_base/eval/test.yml."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Résultat en JSON.")] = False,
    show_misses: Annotated[int, typer.Option(help="Nombre d'échecs à afficher.")] = 10,
) -> None:
    """Mesurer les réponses du bot : top-1, hit@3, MRR, et le taux de réponses qui citent le
    fait attendu (must_mention_any), par le même chemin que `comptoir reply`."""
    import tempfile

    from knowledge_base.evaluation import load_queries

    from .assistant import Assistant
    from .kb_eval import EVAL_DIR, evaluate

    path = queries or EVAL_DIR / "test.yml"
    if not path.is_file():
        typer.secho(f"Fichier introuvable : {path}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1)
    labelled = load_queries(path)
    with tempfile.TemporaryDirectory(prefix="comptoir-eval-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'eval.sqlite3'}"
        # No vector cache: the CPU time per turn is a headline figure, measured on encodings.
        services = services_of(ctx, database_url=url, vector_cache_size=0)
        report = evaluate(Assistant(services), labelled)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
        return
    mention = report["mention"]
    typer.echo(
        f"{report['n']} questions classées : top-1 {report['top1']:.3f}, hit@3 "
        f"{report['hit@3']:.3f}, MRR {report['mrr']:.3f}"
    )
    if mention["n"]:  # type: ignore[index]
        typer.echo(
            f"{mention['n']} questions avec fait attendu : cité dans {mention['rate']:.1%} "  # type: ignore[index]
            "des réponses"
        )
    typer.echo(
        f"Réponse médiane : {report['reply_chars_median']} caractères ; CPU par tour : "
        f"{report['cpu_ms_per_turn']} ms, soit {report['turn_vs_encoding']} × un encodage "
        f"({report['cpu_ms_per_encoding']} ms)"
    )
    for miss in mention["misses"][:show_misses]:  # type: ignore[index]
        typer.echo(f"  ✗ {miss['text']}  (attendu : {', '.join(miss['must_mention_any'])})")


@app.command("train-ranker")
def train_ranker_command(
    ctx: typer.Context,
    queries: Annotated[
        Path | None,
        typer.Option(help="Questions étiquetées ; par défaut knowledge_base/eval/train.yml."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Écrire le modèle dans ce fichier, sans garde ; par défaut, le modèle du "
            "bot (COMPTOIR_DATA_DIR/models/ranker.json), avec la garde."
        ),
    ] = None,
    objective: Annotated[
        str,
        typer.Option(
            help="boosted (livré), pointwise, pairwise ou mixed : voir knowledge_base/ranker.py."
        ),
    ] = SHIPPED,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Mettre le nouveau modèle en service même s'il est moins bon."
        ),
    ] = False,
) -> None:
    """Entraîner le classement appris sur des questions étiquetées (validation croisée).

    Sans --out, le modèle est celui du bot : comme depuis le back office, il n'est mis en
    service (et partagé avec les autres workers) que s'il n'est pas moins bon que l'actuel
    sur les questions de test. Avec --out, le fichier est écrit tel quel."""
    from knowledge_base.evaluation import load_queries
    from knowledge_base.ranker import OBJECTIVES

    from .kb_eval import EVAL_DIR
    from .ranking import retrain_ranker, train_ranker

    if objective not in OBJECTIVES:
        raise fail(f"objectif inconnu : {objective} ({', '.join(OBJECTIVES)})")
    labelled = load_queries(queries) if queries is not None else None
    if out is None:
        outcome = retrain_ranker(
            services_of(ctx), EVAL_DIR, queries=labelled, objective=objective, force=force
        )
        typer.echo(json.dumps(dataclasses.asdict(outcome), ensure_ascii=False))
        if not outcome.switched:
            raise fail(
                f"Le nouveau modèle est moins bon sur les questions de test (MRR "
                f"{outcome.new['mrr']:.3f} contre {outcome.current['mrr']:.3f}) : l'actuel "
                "reste en service. --force pour le remplacer quand même, --out pour "
                "l'écrire ailleurs."
            )
        return
    services = services_of(ctx, kb_ranker="off")
    ranker = train_ranker(services, labelled or load_queries(EVAL_DIR / "train.yml"), objective)
    ranker.save(out)
    typer.echo(json.dumps({"out": str(out), **ranker.report}, ensure_ascii=False))


@app.command("export-edits")
def export_edits_command(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Dossier de contenu à mettre à jour ; par défaut COMPTOIR_KB_CONTENT_DIR."
        ),
    ] = None,
) -> None:
    """Écrire dans un dossier de contenu (un dépôt git) les fichiers publiés depuis le back
    office quand les workers partagent PostgreSQL, pour les relire et les committer."""
    from .shared_state import export_edits
    from .store.database import Database

    settings = settings_of(ctx)
    target = out or settings.kb_content_dir
    database = Database(settings.resolved_database_url)
    with database.session() as session:
        changed = export_edits(session, target)
    database.dispose()
    for path in changed:
        typer.echo(str(target / path))
    typer.echo(f"{len(changed)} fichier(s) publié(s) depuis le back office écrit(s) dans {target}")
