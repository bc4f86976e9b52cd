"""Shared test settings: server fixtures skip when a server is absent, unless CI demands it."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import time
from typing import Any

import pytest

from pkgcache.testing._overlap import ReloadGate, assert_one_reloaded_while_others_called

#: set by .ci/run: a missing server is then a failure, never a skip
REQUIRE_SERVERS = os.environ.get("PKGCACHE_REQUIRE_SERVERS", "") not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> None:
    """Skip a test whose server is absent; fail instead when servers are required (CI)."""
    if REQUIRE_SERVERS:
        pytest.fail(f"{reason} (PKGCACHE_REQUIRE_SERVERS is set, so this is a failure)", pytrace=False)
    pytest.skip(reason)


def _fill_once(config: dict[str, Any], barrier: Any, gate: ReloadGate, results: Any) -> None:
    from pkgcache import load_cache

    barrier.wait()  # start together: schema or table creation races too
    cache = load_cache(config, environ={})
    cache.reload_from_storage = gate.held(cache.reload_from_storage)
    results.put(gate.reload_if_needed(cache))
    cache.close()


def reload_if_needed_from_processes(config: dict[str, Any], processes: int = 4) -> list[bool]:
    """Start ``processes`` fresh interpreters that call ``reload_if_needed`` at once;
    return, sorted, whether each one reloaded (after checking that exactly one did,
    while the others' calls were under way)."""
    ctx = multiprocessing.get_context("spawn")
    barrier, gate, results = ctx.Barrier(processes), ReloadGate(processes, ctx), ctx.Queue()
    workers = [ctx.Process(target=_fill_once, args=(config, barrier, gate, results)) for _ in range(processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(180)
    assert [w.exitcode for w in workers] == [0] * processes
    runs = [results.get(timeout=5) for _ in workers]
    assert_one_reloaded_while_others_called(runs)
    return sorted(reloaded for reloaded, _, _ in runs)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """A server a fixture owns: started on a free loopback port, waited for, stopped.

    Subclasses say how to start it (``command``) and how to tell it answers
    (``ready``); stopping and starting again keeps the port, which is how the
    fault tests take a server away and bring it back.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if self.ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.command()[0]} on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
