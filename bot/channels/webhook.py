"""Webhook worker: Telegram POSTs updates to an ASGI app (Starlette + uvicorn), so any number
of `comptoir run` processes, on one host or several, serve one bot behind a load balancer.

- The secret-token header is checked (`COMPTOIR_WEBHOOK_SECRET`).
- The response is sent once the turn is committed: 200 means the update, the merchant's
  message and the replies are in PostgreSQL. A worker killed before answering lets Telegram
  re-deliver the update to another worker, which finds its `update_id` already recorded
  (answered nothing twice) or handles it (lost nothing). Replies the killed worker stored but
  never sent are sent by another worker's delivery job once their lease ends.
- When the database is down, 503: Telegram keeps the update and tries again.
- Every worker calls `setWebhook` at start with the same URL and secret: harmless.
- `GET /healthz` and `GET /metrics` are served on the same port, per worker.

python-telegram-bot documents this "custom webhook" pattern: an application without an
updater, fed with `Update.de_json` by the web framework.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from urllib.parse import urlparse

import uvicorn
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from ..health import database_gauges, health_response, vector_cache_lines
from .telegram import TelegramChannel

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1_000_000  # bytes; Telegram's updates are a few kilobytes


class WorkerMetrics:
    """This worker's counters, in a registry of its own (no process-wide state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.updates = Counter(
            "comptoir_webhook_updates",
            "Mises à jour Telegram reçues par ce worker, par issue",
            ["outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "comptoir_webhook_update_seconds",
            "Durée entre la réception d'une mise à jour et la réponse au webhook",
            registry=self.registry,
        )


def webhook_path(url: str) -> str:
    """The path Telegram POSTs to, taken from COMPTOIR_WEBHOOK_URL."""
    return "/" + (urlparse(url).path.strip("/") or "telegram")


def create_webhook_app(channel: TelegramChannel, application: Application) -> Starlette:
    settings = channel.settings
    services = channel.assistant.services
    secret = settings.webhook_secret.encode()
    metrics = WorkerMetrics()

    async def receive(request: Request) -> Response:
        started = time.perf_counter()
        given = request.headers.get(SECRET_HEADER, "").encode()
        if secret and not hmac.compare_digest(given, secret):
            metrics.updates.labels("forbidden").inc()
            return Response(status_code=403)
        body = await request.body()
        try:
            if len(body) > MAX_BODY:
                raise ValueError("body too large")
            update = Update.de_json(json.loads(body), application.bot)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("webhook: not a Telegram update (%s)", exc)
            metrics.updates.labels("invalid").inc()
            return Response(status_code=400)
        # In order per chat within this worker (PerChatProcessor); across workers the
        # assistant's per-chat database lock keeps the order.
        await application.update_processor.process_update(
            update, application.process_update(update)
        )
        metrics.latency.observe(time.perf_counter() - started)
        if update.update_id in channel.unrecorded:
            channel.unrecorded.discard(update.update_id)
            metrics.updates.labels("unrecorded").inc()
            return Response(status_code=503)  # Telegram will deliver it again
        metrics.updates.labels("handled").inc()
        return Response(status_code=200)

    async def healthz(request: Request) -> Response:
        return health_response(services)

    async def prometheus(request: Request) -> Response:
        lines = database_gauges(services) + vector_cache_lines(services)
        body = generate_latest(metrics.registry).decode() + "\n".join(lines)
        return PlainTextResponse(body + "\n", media_type="text/plain; version=0.0.4; charset=utf-8")

    return Starlette(
        routes=[
            Route(webhook_path(settings.webhook_url), receive, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/metrics", prometheus),
        ]
    )


async def serve_webhook(channel: TelegramChannel) -> None:
    """Run one worker until SIGINT/SIGTERM: the application, its jobs, and the HTTP server."""
    settings = channel.settings
    application = channel.build(webhook=True)
    server = uvicorn.Server(
        uvicorn.Config(
            create_webhook_app(channel, application),
            host=settings.webhook_listen,
            port=settings.webhook_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    )
    async with application:
        await application.bot.set_webhook(
            url=settings.webhook_url,
            secret_token=settings.webhook_secret or None,
            allowed_updates=Update.ALL_TYPES,
        )
        await channel.on_start(application)
        await application.start()
        try:
            await server.serve()
        finally:
            await application.stop()
