"""The back office beside the bot, in a daemon thread with its own event loop.

Importing the web stack, creating the first account and binding the port all happen in that
thread, so the bot's start is not delayed by them; the bot keeps the main thread and its
signal handlers. Only light modules are imported here.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from ..context import Services

log = logging.getLogger(__name__)


class BackgroundAdmin:
    def __init__(
        self, services: Services, host: str, port: int, echo: Callable[[str], None]
    ) -> None:
        self.services, self.host, self.port, self.echo = services, host, port, echo
        self._server: Any = None  # uvicorn.Server, once built
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="admin-web", daemon=True)

    def start(self) -> BackgroundAdmin:
        self._thread.start()
        return self

    def _run(self) -> None:
        from .server import ensure_first_admin, make_server

        try:
            if hint := ensure_first_admin(self.services):
                self.echo(hint)
            server = make_server(self.services, self.host, self.port)
        except Exception:  # the bot keeps running without its back office
            log.exception("back office not started")
            return
        self._server = server
        if self._stopping.is_set():
            return
        self.echo(f"Back office : http://{self.host}:{self.port}/")
        with contextlib.suppress(SystemExit):  # uvicorn exits if it cannot bind: keep the bot
            server.run()
        if not server.started and not self._stopping.is_set():
            self.echo(
                f"Le back office n'a pas pu écouter sur {self.host}:{self.port} (port occupé ?) : "
                "changez COMPTOIR_ADMIN_PORT, ou 0 pour ne pas le servir."
            )

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
