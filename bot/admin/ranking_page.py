"""Operators: retrain the learned ranker from the back office, with the right answers that
merchants picked ("Vouliez-vous dire…") and staff set in the inbox. The new model is put
in service only if it is not worse on the held-out questions."""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..context import Services
from ..kb_eval import EVAL_DIR
from ..ranking import retrain_ranker
from ..store.models import AnswerLabel
from . import audit
from .web import client_ip, ctx, page, redirect, staff_of


def ranker_status(services: Services) -> dict[str, object]:
    """What the training page shows about the ranker in service and its labels."""
    with services.db.session() as session:
        labels = dict(
            session.execute(
                select(AnswerLabel.source, func.count()).group_by(AnswerLabel.source)
            ).all()
        )
    ranker = services.search.ranker
    report = ranker.report if ranker is not None else {}
    return {
        "in_service": ranker is not None,
        "trained_on": report.get("queries"),
        "held_out": report.get("held_out"),
        "labels_clarify": labels.get("clarify", 0),
        "labels_staff": labels.get("staff", 0),
    }


@page("operator")
async def retrain(request: Request) -> Response:
    admin = ctx(request)
    staff = staff_of(request)
    outcome = await run_in_threadpool(retrain_ranker, admin.services, EVAL_DIR)
    with admin.services.db.session() as session:
        audit.record(
            session,
            staff,
            "retrain_ranker",
            "ranker",
            client_ip(request),
            switched=outcome.switched,
            labels=outcome.labels,
            current_mrr=outcome.current["mrr"],
            new_mrr=outcome.new["mrr"],
        )
    return redirect("/training", "ranker_switched" if outcome.switched else "ranker_kept")


ROUTES = [Route("/training/ranker", retrain, methods=["POST"])]
