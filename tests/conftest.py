"""Shared test settings: server fixtures skip when a server is absent, unless CI demands it."""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

import pytest

#: set by .ci/run: a missing server is then a failure, never a skip
REQUIRE_SERVERS = os.environ.get("PKGCACHE_REQUIRE_SERVERS", "") not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> None:
    """Skip a test whose server is absent; fail instead when servers are required (CI)."""
    if REQUIRE_SERVERS:
        pytest.fail(f"{reason} (PKGCACHE_REQUIRE_SERVERS is set, so this is a failure)", pytrace=False)
    pytest.skip(reason)


def _fill_once(config: dict[str, Any], barrier: Any, results: Any) -> None:
    from pkgcache import load_cache

    barrier.wait()  # start together: schema or table creation races too
    cache = load_cache(config, environ={})
    results.put(cache.reload_if_needed() is not None)
    cache.close()


def reload_if_needed_from_processes(config: dict[str, Any], processes: int = 4) -> list[bool]:
    """Start ``processes`` fresh interpreters that call ``reload_if_needed`` at once;
    return, sorted, whether each one reloaded."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    workers = [ctx.Process(target=_fill_once, args=(config, barrier, results)) for _ in range(processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(180)
    assert [w.exitcode for w in workers] == [0] * processes
    return sorted(results.get(timeout=5) for _ in workers)
