"""Helpers for tests that start Comptoir as a real process: a free port, and waiting until
the back office answers."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(base_url: str, process: subprocess.Popen, timeout: float = 120) -> None:  # type: ignore[type-arg]
    """Until GET /healthz answers 200; fails if the process exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None:
            raise AssertionError(f"the process exited with code {process.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{base_url} did not answer within {timeout:.0f} s")
        time.sleep(0.3)
