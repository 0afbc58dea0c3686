"""The analytics dashboard (charts drawn server-side as SVG) and its CSV export."""

from __future__ import annotations

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .analytics import dashboard, to_csv
from .charts import bar_chart, funnel_chart, line_chart
from .web import attachment, ctx, page, render

PERIODS = (7, 30, 90, 365)


def _days(request: Request) -> int:
    try:
        days = int(request.query_params.get("days", "30"))
    except ValueError:
        days = 30
    return days if days in PERIODS else 30


@page("support")
async def dashboard_page(request: Request) -> Response:
    admin = ctx(request)
    days = _days(request)
    with admin.services.db.session() as session:
        data = dashboard(
            session,
            admin.services.kb,
            days=days,
            low_confidence=admin.services.settings.nlu_fallback_threshold,
        )
    # The chart functions escape every label themselves: their SVG is safe to embed.
    charts = {
        "messages": Markup(line_chart(data.messages_per_day, title="Messages reçus par jour")),
        "active": Markup(
            line_chart(data.active_merchants_per_day, title="Commerçants actifs par jour")
        ),
        "intents": Markup(
            bar_chart([(i.label, i.count) for i in data.intents[:12]], title="Sujets demandés")
        ),
        "axes": Markup(
            bar_chart(
                [(a.label, a.average) for a in data.diagnostic_axes if a.average is not None],
                title="Autodiagnostic : score moyen par axe",
                unit="/100",
            )
        ),
    }
    funnels = [
        (
            funnel,
            Markup(
                funnel_chart(
                    [("Commencée", funnel.started)]
                    + [(step.title, step.done) for step in funnel.steps]
                    + [("Terminée", funnel.finished)],
                    title=funnel.title,
                )
            ),
        )
        for funnel in data.funnels
        if funnel.started
    ]
    return render(
        request,
        "dashboard.html",
        data=data,
        charts=charts,
        funnels=funnels,
        days=days,
        periods=PERIODS,
    )


@page("support")
async def dashboard_csv(request: Request) -> Response:
    admin = ctx(request)
    with admin.services.db.session() as session:
        data = dashboard(
            session,
            admin.services.kb,
            days=_days(request),
            low_confidence=admin.services.settings.nlu_fallback_threshold,
        )
    return attachment(to_csv(data), "text/csv", "comptoir-statistiques.csv")


ROUTES = [
    Route("/dashboard", dashboard_page),
    Route("/dashboard.csv", dashboard_csv),
]
