"""Two "hosts" for benchmarks/scale_bench.py: Linux network namespaces, each joined to the
root namespace by a veth pair. PostgreSQL and the loopback Bot API listen on 127.0.0.1 only,
so a socat relay per host, bound on the root side's veth address, forwards to them (the
server's configuration is left alone). Everything is removed on exit, even after an error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

TICKS = os.sysconf("SC_CLK_TCK")
PREFIX = "cptscale"  # names of the namespaces and root-side links this bench creates


@dataclass
class Host:
    name: str  # the namespace
    root_address: str  # the root namespace's end of the veth pair (relays listen here)
    address: str  # the host's own address (its worker listens here)
    relays: dict[int, int] = field(default_factory=dict)  # target port -> relay port

    @property
    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def wait_listening(address: str, port: int, timeout: float = 10) -> None:
    """Until something accepts connections on address:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Hosts:
    """`with Hosts(2, {5432: 5432, api_port: api_port}) as hosts:` two namespaces, each
    reaching the listed local ports through relays on its root-side address."""

    def __init__(self, count: int, forwards: dict[int, int]) -> None:
        self.count = count
        self.forwards = forwards  # local port -> relay port
        self.hosts: list[Host] = []
        self._relays: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> list[Host]:
        self._cleanup()  # what a previous run killed mid-way may have left
        try:
            for i in range(self.count):
                self.hosts.append(self._make_host(i))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self.hosts

    def _make_host(self, i: int) -> Host:
        host = Host(f"{PREFIX}{i}", f"10.231.{i + 1}.1", f"10.231.{i + 1}.2")
        outer, inner = f"{PREFIX}{i}o", f"{PREFIX}{i}i"
        ip("netns", "add", host.name)
        ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        ip("link", "set", inner, "netns", host.name)
        ip("addr", "add", f"{host.root_address}/24", "dev", outer)
        ip("link", "set", outer, "up")
        ip("-n", host.name, "addr", "add", f"{host.address}/24", "dev", inner)
        ip("-n", host.name, "link", "set", inner, "up")
        ip("-n", host.name, "link", "set", "lo", "up")
        for local, relay in self.forwards.items():
            self._relays.append(
                subprocess.Popen(
                    [
                        "socat",
                        f"TCP-LISTEN:{relay},bind={host.root_address},reuseaddr,fork",
                        f"TCP:127.0.0.1:{local}",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            host.relays[local] = relay
            wait_listening(host.root_address, relay)
        return host

    @staticmethod
    def _children(pid: int) -> list[int]:
        """The processes a relay forked, one per connection it serves."""
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def relay_cpu_seconds(self) -> float:
        """CPU of the relays so far: each main process, its ended children, and the children
        still serving a connection."""
        total = 0.0
        for relay in self._relays:
            for pid in [relay.pid, *self._children(relay.pid)]:
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                total += sum(int(v) for v in fields[11:15]) / TICKS
        return total

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for relay in self._relays:
            for child in self._children(relay.pid):  # connections still open
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGTERM)
            relay.terminate()
        for relay in self._relays:
            try:
                relay.wait(timeout=10)
            except subprocess.TimeoutExpired:
                relay.kill()
        self._relays.clear()
        self._cleanup()

    def _cleanup(self) -> None:
        """Delete this bench's namespaces and links (deleting a namespace deletes its end of
        the veth pair, and with it the pair)."""
        for i in range(self.count):
            subprocess.run(["ip", "netns", "del", f"{PREFIX}{i}"], capture_output=True)
            subprocess.run(["ip", "link", "del", f"{PREFIX}{i}o"], capture_output=True)
