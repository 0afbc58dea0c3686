"""Operators: the misunderstood inbox (corrections written as Rasa training examples) and
retraining in the background, switching the running bot only to a model that is not worse."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nlu.intents import ALL_INTENTS, TOPIC_LABELS

from ..context import Services
from ..shared_state import TRAINED_KINDS, publish_model, write_corrections_file
from ..store.models import AnswerLabel, IntentCorrection, Merchant, Message, TrainingRun, utcnow
from ..wiring import retrain_intent_model
from . import audit
from .ranking_page import ranker_status
from .web import PAGE_SIZE, attachment, client_ip, ctx, form_data, page, redirect, render, staff_of

log = logging.getLogger(__name__)

KINDS = {
    "intent": "Bonne intention",
    "out_of_scope": "Hors sujet",
    "missing_content": "Contenu manquant",
    "ignored": "Ignorer",
}


def inbox_query(threshold: float):  # type: ignore[no-untyped-def]
    """Merchant text messages the bot did not understand, was unsure about, or whose answer
    got a thumbs down (the 👎 is stored on the question), not reviewed yet."""
    return (
        select(Message, Merchant.first_name)
        .join(Merchant, Merchant.id == Message.merchant_id)
        .where(
            Message.direction == "in",
            Message.kind == "text",
            or_(
                Message.answered.is_(False),
                Message.confidence < threshold,
                Message.feedback == -1,
            ),
            ~exists().where(IntentCorrection.message_id == Message.id),
        )
    )


def rewrite_corrections_file(services: Services, session: Session) -> int:
    return write_corrections_file(session, services.settings.resolved_nlu_corrections_file)


@page("support")
async def inbox(request: Request) -> Response:
    admin = ctx(request)
    threshold = admin.services.settings.nlu_fallback_threshold
    try:
        number = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        number = 1
    query = inbox_query(threshold)
    with admin.services.db.session() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.execute(
            query.order_by(Message.id.desc()).offset((number - 1) * PAGE_SIZE).limit(PAGE_SIZE)
        ).all()
        recent = session.scalars(
            select(IntentCorrection).order_by(IntentCorrection.id.desc()).limit(10)
        ).all()
    return render(
        request,
        "inbox.html",
        rows=rows,
        total=total,
        page_number=number,
        pages=max(1, -(-total // PAGE_SIZE)),
        intents=[(i, TOPIC_LABELS.get(i, i)) for i in ALL_INTENTS],
        kinds=KINDS,
        answers=answer_choices(admin.services),
        threshold=threshold,
        recent=recent,
        topic_labels=TOPIC_LABELS,
    )


@page("support")
async def correct(request: Request) -> Response:
    admin = ctx(request)
    staff = staff_of(request)
    form = await form_data(request)
    kind = form.get("kind", "intent")
    intent = form.get("intent", "")
    if kind not in KINDS or (kind == "intent" and intent not in ALL_INTENTS):
        return render(
            request,
            "error.html",
            400,
            message="Choisissez une intention de la liste, ou un autre traitement.",
        )
    try:
        message_id = int(form.get("message_id", ""))
    except ValueError:
        return render(request, "error.html", 400, message="Message inconnu.")
    answer_id = form.get("answer_id", "").strip()
    answer_kind = kind_of(admin.services, answer_id) if answer_id else ""
    if answer_id and not answer_kind:
        return render(
            request,
            "error.html",
            400,
            message=f"« {answer_id} » n'est ni un guide, ni une fiche, ni un outil, ni une "
            "checklist : choisissez la bonne réponse dans la liste.",
        )
    with admin.services.db.session() as session:
        message = session.get(Message, message_id)
        if message is None or message.direction != "in":
            return render(
                request,
                "error.html",
                404,
                message="Ce message n'existe plus (effacé entre-temps ?).",
            )
        session.add(
            IntentCorrection(
                message_id=message.id,
                text=" ".join(message.text.split())[:500],
                kind=kind,
                intent=intent if kind == "intent" else None,
                note=form.get("note", "")[:1000],
                staff_email=staff.email,
            )
        )
        if answer_kind:
            session.add(
                AnswerLabel(
                    message_id=message.id,
                    text=" ".join(message.text.split())[:1000],
                    doc_kind=answer_kind,
                    doc_id=answer_id,
                    source="staff",
                    staff_email=staff.email,
                )
            )
        session.flush()
        if kind in TRAINED_KINDS:
            rewrite_corrections_file(admin.services, session)
        audit.record(
            session,
            staff,
            "correct",
            f"message:{message.id}",
            client_ip(request),
            kind=kind,
            intent=intent if kind == "intent" else None,
            answer=answer_id or None,
        )
    return redirect("/inbox", "corrected")


def kind_of(services: Services, item_id: str) -> str:
    """The kind of a knowledge-base item named by its id, "" if none."""
    kb = services.kb
    for kind, items in (
        ("faq", kb.faq),
        ("guide", kb.guides),
        ("tool", kb.tools),
        ("checklist", kb.checklists),
    ):
        if item_id in items:
            return kind
    return ""


def answer_choices(services: Services) -> list[tuple[str, str]]:
    """(id, label) of every item a staff member can name as the right answer."""
    kb = services.kb
    choices = [(f.id, f"Fiche : {f.question}") for f in kb.faq.values()]
    choices += [(g.id, f"Guide : {g.title}") for g in kb.guides.values()]
    choices += [(t.id, f"Outil : {t.name}") for t in kb.tools.values()]
    choices += [(c.id, f"Checklist : {c.title}") for c in kb.checklists.values()]
    return sorted(choices, key=lambda c: c[1])


class Trainer:
    """Runs one retraining at a time in a background thread and records its progress in
    the database, so any back-office process can show it."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        with services.db.session() as session:
            for run in session.scalars(select(TrainingRun).where(TrainingRun.status == "running")):
                run.status = "failed"
                run.message = "Interrompu par un redémarrage du service."
                run.finished_at = utcnow()

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, staff_email: str) -> int | None:
        with self._lock:
            if self.busy:
                return None
            with self.services.db.session() as session:
                run = TrainingRun(staff_email=staff_email, stage="Préparation", progress=0.0)
                session.add(run)
                session.flush()
                run_id = run.id
            self._thread = threading.Thread(
                target=self._run, args=(run_id,), name=f"retrain-{run_id}", daemon=True
            )
            self._thread.start()
            return run_id

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _update(self, run_id: int, **values: Any) -> None:
        with self.services.db.session() as session:
            run = session.get(TrainingRun, run_id)
            if run is not None:
                for key, value in values.items():
                    setattr(run, key, value)

    def _run(self, run_id: int) -> None:
        last = 0.0

        def progress(stage: str, fraction: float) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= 0.5 or fraction >= 1.0:
                last = now
                self._update(run_id, stage=stage[:128], progress=max(0.0, min(1.0, fraction)))

        try:
            result, model = retrain_intent_model(
                self.services.settings, self.services.encoder, progress=progress
            )
            if result.switched and model is not None:
                self.services.nlu = model  # the running bot parses with it from now on
            settings = self.services.settings
            # Switched or kept (the kept one records the refusal): every worker follows.
            publish_model(settings, self.services.db, "nlu", settings.resolved_nlu_model_dir)
            self._update(
                run_id,
                status="done",
                stage="Terminé",
                progress=1.0,
                current_accuracy=result.current_accuracy,
                new_accuracy=result.new_accuracy,
                switched=result.switched,
                message=result.reason,
                finished_at=utcnow(),
            )
        except Exception as exc:  # reported on the page, never crashes the service
            log.exception("retraining failed")
            self._update(
                run_id, status="failed", message=f"Échec : {exc}"[:2000], finished_at=utcnow()
            )


@page("operator")
async def training_page(request: Request) -> Response:
    admin = ctx(request)
    with admin.services.db.session() as session:
        runs = session.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()).limit(10)).all()
        counts = dict(
            session.execute(
                select(IntentCorrection.kind, func.count()).group_by(IntentCorrection.kind)
            ).all()
        )
        last_done = session.scalar(
            select(func.max(TrainingRun.started_at)).where(TrainingRun.status == "done")
        )
        new_since = (
            session.scalar(
                select(func.count())
                .select_from(IntentCorrection)
                .where(
                    IntentCorrection.kind.in_(TRAINED_KINDS),
                    IntentCorrection.created_at > last_done if last_done else True,
                )
            )
            or 0
        )
        missing = session.scalars(
            select(IntentCorrection)
            .where(IntentCorrection.kind == "missing_content")
            .order_by(IntentCorrection.id.desc())
            .limit(20)
        ).all()
    manifest = getattr(admin.services.nlu, "manifest", {}) or {}
    held_out = (manifest.get("metrics") or {}).get("held_out") or {}
    return render(
        request,
        "training.html",
        runs=runs,
        counts=counts,
        kinds=KINDS,
        new_since=new_since,
        missing=missing,
        busy=admin.trainer is not None and admin.trainer.busy,
        model_created=manifest.get("created", ""),
        model_examples=manifest.get("n_examples"),
        model_accuracy=held_out.get("accuracy"),
        corrections_file=str(admin.services.settings.resolved_nlu_corrections_file),
        ranker=ranker_status(admin.services),
    )


@page("operator")
async def start_training(request: Request) -> Response:
    admin = ctx(request)
    staff = staff_of(request)
    run_id = admin.trainer.start(staff.email) if admin.trainer is not None else None
    if run_id is None:
        return redirect("/training", "training_running")
    with admin.services.db.session() as session:
        audit.record(session, staff, "retrain", f"training:{run_id}", client_ip(request))
    return redirect("/training", "training_started")


@page("operator")
async def training_status(request: Request) -> Response:
    admin = ctx(request)
    try:
        run_id = int(request.path_params["run_id"])
    except ValueError:
        return JSONResponse({"error": "inconnu"}, status_code=404)
    with admin.services.db.session() as session:
        run = session.get(TrainingRun, run_id)
        if run is None:
            return JSONResponse({"error": "inconnu"}, status_code=404)
        return JSONResponse(
            {
                "id": run.id,
                "status": run.status,
                "stage": run.stage,
                "progress": round(run.progress, 3),
                "current_accuracy": run.current_accuracy,
                "new_accuracy": run.new_accuracy,
                "switched": run.switched,
                "message": run.message,
            }
        )


@page("operator")
async def download_corrections(request: Request) -> Response:
    admin = ctx(request)
    path = admin.services.settings.resolved_nlu_corrections_file
    body = path.read_text(encoding="utf-8") if path.is_file() else 'version: "3.1"\nnlu: []\n'
    return attachment(body, "application/x-yaml", "corrections.yml")


ROUTES = [
    Route("/inbox", inbox),
    Route("/inbox/correct", correct, methods=["POST"]),
    Route("/training", training_page),
    Route("/training/start", start_training, methods=["POST"]),
    Route("/training/runs/{run_id}", training_status),
    Route("/training/corrections.yml", download_corrections),
]
