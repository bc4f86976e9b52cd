"""The project's change marker is one small read: the server sees two GETs, never the files.

``project_token`` is what an index server reads on every page request; the
kit (``ChangeMarkers``) proves that it changes when it must. Here the Redis
server's own ``MONITOR`` shows what it costs, and a marker survives
``_clear_all`` so that a project saved again never repeats an old one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from pkgcache import load_cache
from pkgcache.testing import make_package
from pkgcache_redis import RedisCache

from .conftest import require_shared, unique_prefix


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[RedisCache]:
    config: dict[str, Any] = {
        "pypi.db": "redis",
        "db.url": require_shared(),
        "db.prefix": unique_prefix(),
        "storage.dir": str(tmp_path),
    }
    made = load_cache(config, environ={})
    assert isinstance(made, RedisCache)
    yield made
    made.clear_all()
    made.client.delete(*[k for k in made._own_keys()] or ["-"])  # the kept change counters too
    made.close()


def commands_during(cache: RedisCache, work: Any) -> list[str]:
    """The commands the server executed for this cache's keys while ``work`` ran (MONITOR)."""
    seen: list[str] = []
    monitor_client = redis.Redis.from_url(require_shared(), decode_responses=True)
    ready = threading.Event()
    done = threading.Event()

    def watch() -> None:
        with monitor_client.monitor() as monitor:
            ready.set()
            for event in monitor.listen():
                command = event["command"]
                if cache.prefix in command:
                    seen.append(command)
                if "pkgcache-monitor-end" in command:
                    done.set()
                    return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    assert ready.wait(10)
    time.sleep(0.2)  # MONITOR is registered once the server answered it
    work()
    cache.client.get(cache.prefix + "pkgcache-monitor-end")
    assert done.wait(10), "MONITOR saw no end marker"
    thread.join(10)
    monitor_client.close()
    return seen


def test_project_token_reads_two_small_keys_not_the_files(cache: RedisCache) -> None:
    cache.save_many([make_package("big", f"1.{i}") for i in range(200)])
    seen = commands_during(cache, lambda: cache.project_token("big"))
    ours = [c for c in seen if "pkgcache-monitor-end" not in c]
    assert ours, "MONITOR saw nothing: the test proves nothing"
    assert all(c.split()[0].upper() == "GET" for c in ours), ours
    assert len(ours) == 2
    assert not any(":files" in c for c in ours)


def test_a_project_saved_again_after_a_clear_all_gets_a_new_marker(cache: RedisCache) -> None:
    package = make_package("again", "1.0")
    cache.save(package)
    first = cache.project_token("again")
    cache._clear_all()
    assert cache.project_token("again") is None
    cache.save(package)  # the very same file: same row, same summary
    second = cache.project_token("again")
    assert second is not None
    assert second != first


def test_index_token_is_one_get(cache: RedisCache) -> None:
    cache.save_many([make_package(f"p{i}", "1.0") for i in range(100)])
    seen = [c for c in commands_during(cache, cache.index_token) if "pkgcache-monitor-end" not in c]
    assert len(seen) == 1, seen
    assert seen[0].split()[0].upper() == "GET"


def test_the_index_marker_never_repeats_after_a_clear_all(cache: RedisCache) -> None:
    cache.save(make_package("alpha", "1.0"))
    first = cache.index_token()
    cache.clear_all()
    cache.save(make_package("alpha", "1.0"))
    assert cache.index_token() != first
