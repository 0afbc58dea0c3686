"""`comptoir nlu ...`: train, test and run the intent engine (nlu/) from the terminal."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from nlu.default import DEFAULT_TRAIN_DIR
from nlu.encoder import Encoder
from nlu.model import ModelError, NLUModel, Parser, train_model
from nlu.training_data import TrainingData, TrainingDataError, load_training_data

from .cli_support import fail, settings_of
from .config import Settings
from .wiring import intent_model, intent_parser, settings_encoder

app = typer.Typer(
    help="Compréhension du langage : entraîner, évaluer, analyser des messages.",
    no_args_is_help=True,
)


def _load_data(path: Path) -> TrainingData:
    try:
        return load_training_data(path)
    except TrainingDataError as exc:
        raise fail(str(exc)) from None


def _train_with_progress(data: TrainingData, encoder: Encoder, settings: Settings) -> NLUModel:
    cache_dir = settings.data_dir / "cache"
    bar = tqdm(
        total=len(data.examples),
        desc="Encodage",
        unit="phrase",
        file=sys.stderr,
        leave=False,
        disable=None,
    )
    last_stage = {"name": ""}

    def on_stage(stage: str, fraction: float) -> None:
        if stage != last_stage["name"]:
            last_stage["name"] = stage
            bar.set_description(stage.capitalize())

    try:
        return train_model(
            data, encoder, cache_dir=cache_dir, on_encoded=bar.update, on_stage=on_stage
        )
    finally:
        bar.close()


def load_model(settings: Settings, model_dir: Path | None, encoder: Encoder) -> NLUModel:
    return intent_model(settings, encoder, model_dir, log=lambda m: typer.echo(m, err=True))


def make_parser(settings: Settings, model_dir: Path | None = None) -> Parser:
    try:
        return intent_parser(
            settings, settings_encoder(settings), model_dir, log=lambda m: typer.echo(m, err=True)
        )
    except ValueError as exc:
        raise fail(str(exc)) from None


@app.command()
def train(
    ctx: typer.Context,
    data: Annotated[
        Path, typer.Option(help="Fichier ou dossier Rasa YAML (ou JSONL text/intent).")
    ] = DEFAULT_TRAIN_DIR,
    out: Annotated[Path, typer.Option(help="Dossier où écrire le modèle.")] = Path("models/nlu"),
) -> None:
    """Entraîner un modèle d'intentions à partir de données au format Rasa."""
    settings = settings_of(ctx)
    training = _load_data(data)
    typer.echo(f"{len(training.examples)} exemples, {len(training.intents)} intentions.", err=True)
    started = time.perf_counter()
    model = _train_with_progress(training, settings_encoder(settings), settings)
    model.save(out)
    typer.echo(
        f"Modèle enregistré dans {out} en {time.perf_counter() - started:.1f} s "
        f"(encodeur {model.manifest['encoder_id']})."
    )


@app.command()
def test(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="Données de test (Rasa YAML ou JSONL).")],
    model: Annotated[
        Path | None, typer.Option(help="Dossier du modèle ; par défaut le modèle intégré.")
    ] = None,
    cross_validation: Annotated[
        bool,
        typer.Option(
            "--cross-validation", help="Validation croisée sur --data au lieu d'un modèle entraîné."
        ),
    ] = False,
    folds: Annotated[int, typer.Option(help="Nombre de plis de la validation croisée.")] = 5,
    report_dir: Annotated[
        Path, typer.Option("--report", help="Dossier du rapport (JSON + matrice PNG).")
    ] = Path("reports/nlu"),
    as_json: Annotated[
        bool, typer.Option("--json", help="Écrire le rapport JSON sur la sortie standard.")
    ] = False,
) -> None:
    """Évaluer : exactitude, F1 macro, tableau par intention, erreurs, matrice de confusion."""
    # Here rather than at the top: scikit-learn's metrics take a second to import, and every
    # other command (the bot's `run` first) does without them.
    from nlu.evaluation import (
        cross_validate,
        format_report,
        plot_confusion_matrix,
        report_from_predictions,
    )

    settings = settings_of(ctx)
    test_data = _load_data(data)
    encoder = settings_encoder(settings)
    if cross_validation:

        def fit(part: TrainingData) -> NLUModel:
            return train_model(part, encoder, cache_dir=settings.data_dir / "cache")

        def predict(m: object, texts: list[str]) -> tuple[list[str], list[float]]:
            assert isinstance(m, NLUModel)
            results = m.parse_batch(texts)
            return [r.intent for r in results], [r.confidence for r in results]

        report = cross_validate(
            test_data,
            fit,
            predict,
            folds=folds,
            on_fold=lambda k, n: typer.echo(f"pli {k}/{n}", err=True),
        )
    else:
        try:
            nlu = load_model(settings, model, encoder)
        except ModelError as exc:
            raise fail(str(exc)) from None
        texts = test_data.texts()
        results = nlu.parse_batch(texts)
        report = report_from_predictions(
            texts, test_data.labels(), [r.intent for r in results], [r.confidence for r in results]
        )
        report["model"] = {k: nlu.manifest.get(k) for k in ("encoder_id", "data_hash", "created")}
    report["data"] = str(data)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    png = plot_confusion_matrix(report, report_dir / "confusion_matrix.png")
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        typer.echo(format_report(report))
        typer.echo(f"\nRapport : {report_dir / 'report.json'}    matrice : {png}")


@app.command()
def parse(
    ctx: typer.Context,
    text: Annotated[str | None, typer.Argument(help="Message à analyser.")] = None,
    model: Annotated[
        Path | None, typer.Option(help="Dossier du modèle ; par défaut le modèle intégré.")
    ] = None,
    jsonl: Annotated[
        bool,
        typer.Option(
            "--jsonl",
            help='Lire des lignes {"text"} sur l\'entrée standard, '
            "écrire une ligne JSON par message.",
        ),
    ] = False,
) -> None:
    """Analyser un message (intention, confiance, entités)."""
    settings = settings_of(ctx)
    if not jsonl and text is None:
        raise fail("Donnez un message entre guillemets, ou --jsonl pour lire l'entrée standard.")
    try:
        parser = make_parser(settings, model)
    except ModelError as exc:
        raise fail(str(exc)) from None
    if not jsonl:
        result = parser.parse(text or "")
        typer.echo(f"intention : {result.intent} (confiance {result.confidence:.2f})")
        for alternative in result.ranking[1:3]:
            typer.echo(f"  ensuite : {alternative.intent} ({alternative.confidence:.2f})")
        for entity in result.entities:
            typer.echo(
                f"entité {entity.entity} : {entity.value} (« {entity.text} », {entity.extractor})"
            )
        return
    for line_no, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            payload = json.loads(line)
            message = str(payload["text"])
        except (ValueError, KeyError, TypeError):
            typer.echo(
                json.dumps(
                    {"line": line_no, "error": 'ligne JSON {"text": ...} attendue'},
                    ensure_ascii=False,
                )
            )
            continue
        sys.stdout.write(json.dumps(parser.parse(message).to_dict(), ensure_ascii=False) + "\n")
        sys.stdout.flush()
