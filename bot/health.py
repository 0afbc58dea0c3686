"""Health and metrics every process serves (the back office and each webhook worker): the
same checks, so a load balancer and Prometheus see every process alike."""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.responses import JSONResponse

from .context import Services
from .store.database import StoreUnavailable
from .store.models import HandoffRequest, Merchant, Message, OutboxMessage


def health_checks(services: Services) -> dict[str, bool]:
    return {
        "database": services.db.ping(),
        "search_index": services.search.index is not None,
        "intent_model": services.nlu is not None,
    }


def health_response(services: Services) -> JSONResponse:
    """`GET /healthz`: 200 when everything answers, 503 otherwise (for load balancers)."""
    checks = health_checks(services)
    ok = all(checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", **checks}, status_code=200 if ok else 503
    )


def database_gauges(services: Services) -> list[str]:
    """Prometheus text lines for what the database holds (the same for every worker)."""
    lines: list[str] = []
    try:
        with services.db.session() as session:
            gauges = {
                "comptoir_merchants": session.scalar(select(func.count()).select_from(Merchant)),
                "comptoir_messages": session.scalar(select(func.count()).select_from(Message)),
                "comptoir_handoffs_open": session.scalar(
                    select(func.count())
                    .select_from(HandoffRequest)
                    .where(HandoffRequest.status == "open")
                ),
                "comptoir_outbox_pending": session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status == "pending")
                ),
            }
        for name, value in gauges.items():
            lines += [f"# TYPE {name} gauge", f"{name} {value or 0}"]
        lines += ["# TYPE comptoir_database_up gauge", "comptoir_database_up 1"]
    except StoreUnavailable:
        lines += ["# TYPE comptoir_database_up gauge", "comptoir_database_up 0"]
    return lines


def vector_cache_lines(services: Services) -> list[str]:
    """This process's query-vector cache (a back office served alone answers no turns: 0)."""
    cache = services.query_vectors.stats()
    lines: list[str] = []
    for name, value in (("hits", cache.hits), ("misses", cache.misses)):
        lines += [
            f"# TYPE comptoir_vector_cache_{name}_total counter",
            f"comptoir_vector_cache_{name}_total {value}",
        ]
    text_turns, encoded = services.understanding.snapshot()
    for name, value in (("text_turns", text_turns), ("text_turns_encoded", encoded)):
        lines += [f"# TYPE comptoir_{name}_total counter", f"comptoir_{name}_total {value}"]
    return lines
