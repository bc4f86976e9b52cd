"""Killed reloads, dead lock holders and refusing servers.

Children are fresh interpreters killed with SIGKILL at chosen points: each
one reports that it reached its point and then waits to be killed, so the
kills land where the test says, on a loaded machine too.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from pkgcache import CacheError, CacheFull, CacheUnavailable, load_cache
from pkgcache.testing import make_package
from pkgcache.testing._overlap import ReloadGate, assert_one_reloaded_while_others_called
from pkgcache_redis import RedisCache, _staging
from tests.support import free_port

from .conftest import RedisServer, require_shared, unique_prefix
from .test_redis_backend import redis_cache

STAGED = "~tmp."
LEASE = 3.0  # seconds: the reload lease in the lock tests (renewed every second)


def _config(url: str, prefix: str, storage: Path, clustered: bool) -> dict[str, Any]:
    config = {"pypi.db": "redis", "db.url": url, "db.prefix": prefix, "storage.dir": str(storage)}
    if clustered:
        config["db.clustered"] = "true"
    return config


def _url(request: pytest.FixtureRequest, clustered: bool) -> str:
    return str(request.getfixturevalue("cluster_url")) if clustered else require_shared()


def _pause_here(conn: Any) -> None:
    conn.send("paused")
    time.sleep(600)  # the parent kills us here


def _reload_until_paused(config: dict[str, Any], point: int, conn: Any) -> None:
    """A plain reload of 12,000 files (12 batches) that stops at its ``point``-th pipeline
    after its survey: 1 to 12 stage the batches, 13 the summary rows, 14 is the switch
    (standalone: the MULTI/EXEC; cluster: the floor, after the projects switched)."""
    from redis.client import Pipeline
    from redis.cluster import ClusterPipeline

    RedisCache.STAGING_TTL = 1.0
    cache = load_cache(config, environ={})
    assert isinstance(cache, RedisCache)
    packages = [make_package(f"p{i % 300}", f"1.{i}") for i in range(12_000)]
    cache.storage.list = lambda: iter(packages)  # type: ignore[method-assign]
    state = {"staging": False, "calls": 0}
    survey = cache._survey

    def surveyed(running: str) -> set[str]:
        live = survey(running)
        state["staging"] = True
        return live

    cache._survey = surveyed  # type: ignore[method-assign]
    real_multi_exec = _staging.multi_exec

    def multi_exec(*args: Any) -> None:  # the standalone switch: a MULTI/EXEC sent in chunks
        state["calls"] += 1
        if state["calls"] == point:
            _pause_here(conn)
        real_multi_exec(*args)

    _staging.multi_exec = multi_exec  # type: ignore[assignment]
    for cls in (Pipeline, ClusterPipeline):

        def execute(self: Any, *args: Any, _real: Any = cls.execute, **kwargs: Any) -> Any:
            if state["staging"]:
                state["calls"] += 1
                if state["calls"] == point:
                    _pause_here(conn)
            return _real(self, *args, **kwargs)

        cls.execute = execute  # type: ignore[method-assign]
    cache.reload_from_storage()
    conn.send("finished")


def _run_and_kill(target: Any, *args: Any) -> None:
    """Start ``target`` in a fresh interpreter, wait until it pauses, SIGKILL it."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(*args, child))
    process.start()
    try:
        assert parent.poll(120), "the child never reached its point"
        assert parent.recv() == "paused"
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.join(30)
    assert process.exitcode == -signal.SIGKILL


def _staged(cache: RedisCache) -> set[str]:
    return set(cache._own_keys("*" + STAGED + "*"))


def _wait_for_dead_leases(cache: RedisCache, keys: set[str]) -> None:
    """The killed children's staging leases (1 s) run out: wait for that, bounded."""
    tags = {key.rsplit(STAGED, 1)[1] for key in keys}
    for _ in range(600):
        if not any(cache.client.exists(cache._staging_key(tag)) for tag in tags):
            return
        time.sleep(0.1)
    raise AssertionError("the staging leases of killed reloads never expired")


@pytest.fixture
def make() -> Iterator[Callable[[dict[str, Any]], RedisCache]]:
    """Caches made from configs; every key of their prefixes is removed afterwards."""
    made: list[RedisCache] = []

    def make(config: dict[str, Any]) -> RedisCache:
        cache = load_cache(config, environ={})
        assert isinstance(cache, RedisCache)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache._delete(sorted(cache._own_keys()))
        cache.close()


@pytest.mark.parametrize("clustered", [False, True])
def test_killed_plain_reloads_are_cleaned_by_the_next_one(
    tmp_path: Path, request: pytest.FixtureRequest, make: Callable[[dict[str, Any]], RedisCache], clustered: bool
) -> None:
    url = _url(request, clustered)
    config = _config(url, unique_prefix(), tmp_path / "mine", clustered)
    cache, other = make(config), make(_config(url, unique_prefix(), tmp_path / "other", clustered))
    cache.storage.upload(make_package("kept", "1.0"), b"x")
    cache.reload_from_storage()
    # part of the batches staged, all, the summary rows too, at the switch (on a cluster:
    # projects switched, index not); each child may also remove the staged keys of the one
    # killed before it
    for point in (2, 12, 13, 14):
        _run_and_kill(_reload_until_paused, config, point)
    _run_and_kill(_reload_until_paused, _config(url, other.prefix, tmp_path / "other", clustered), 3)
    # readers still see the old contents (a cluster killed mid-switch: its index does)
    assert cache.distinct() == ["kept"] and cache.fetch("kept-1.0.tar.gz") is not None
    if not clustered:
        assert [p.version for p in cache.all("kept")] == ["1.0"] and cache.all("p0") == []
    leftovers, foreign = _staged(cache), _staged(other)
    assert leftovers and foreign
    assert all(cache.client.pttl(key) > 0 for key in leftovers | foreign)  # the TTL guard
    # a reload still running (its lease alive) keeps its staged keys
    running = f"{cache.prefix}{{p0}}:best{STAGED}feedfeedfeed"
    cache.client.set(cache._staging_key("feedfeedfeed"), "someone", px=120_000)
    cache.client.set(running, "{}", px=120_000)
    _wait_for_dead_leases(cache, leftovers)

    cache.reload_from_storage()

    assert _staged(cache) == {running}
    assert _staged(other) == foreign  # another prefix's leftovers are not ours to remove
    assert cache.distinct() == ["kept"] and [p.version for p in cache.all("kept")] == ["1.0"]
    assert [p.filename for p in cache._iter_packages()] == ["kept-1.0.tar.gz"]
    assert cache.all("p0") == []  # a cluster reload killed mid-switch left live keys of p0
    assert cache.client.pttl(cache.summary_key) == -1 and cache.client.pttl(cache._files_key("kept")) == -1


@pytest.mark.parametrize("clustered", [False, True])
def test_reload_if_needed_cleans_a_killed_reload(
    tmp_path: Path, request: pytest.FixtureRequest, make: Callable[[dict[str, Any]], RedisCache], clustered: bool
) -> None:
    config = _config(_url(request, clustered), unique_prefix(), tmp_path, clustered)
    cache = make(config)
    cache.storage.upload(make_package("fresh", "2.0"), b"x")
    _run_and_kill(_reload_until_paused, config, 3)
    leftovers = _staged(cache)
    assert leftovers and cache.distinct() == []
    _wait_for_dead_leases(cache, leftovers)
    assert cache.reload_if_needed() is not None
    assert _staged(cache) == set() and cache.distinct() == ["fresh"]


def _hold_reload_lock(config: dict[str, Any], conn: Any) -> None:
    """reload_if_needed that stops inside the reload, holding the lease, renewing it."""
    RedisCache.LOCK_TTL = LEASE
    cache = load_cache(config, environ={})

    def listing() -> Iterator[Any]:
        _pause_here(conn)
        yield from ()

    cache.storage.list = listing  # type: ignore[method-assign]
    cache.reload_if_needed()


@pytest.mark.parametrize("clustered", [False, True])
def test_a_killed_lock_holder_is_taken_over_within_the_lease(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    make: Callable[[dict[str, Any]], RedisCache],
    monkeypatch: pytest.MonkeyPatch,
    clustered: bool,
) -> None:
    monkeypatch.setattr(RedisCache, "LOCK_TTL", LEASE)
    config = _config(_url(request, clustered), unique_prefix(), tmp_path, clustered)
    cache = make(config)
    cache.storage.upload(make_package("waiting", "1.0"), b"x")
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    holder = ctx.Process(target=_hold_reload_lock, args=(config, child))
    holder.start()
    try:
        assert parent.poll(120) and parent.recv() == "paused"
        # the living holder renews: waiting well past the lease (3 lives) does not let a second reload in
        assert cache.reload_if_needed(timeout=3 * LEASE) is None
        assert cache.distinct() == []
        assert holder.pid is not None
        os.kill(holder.pid, signal.SIGKILL)
    finally:
        holder.join(30)
    assert holder.exitcode == -signal.SIGKILL
    # dead: its lease runs out within LEASE seconds, far below the timeout given here (and the 600 s default)
    result = cache.reload_if_needed(timeout=5 * LEASE)
    assert result is not None and result.added == 1
    assert cache.distinct() == ["waiting"]


def fill(cache: RedisCache) -> None:
    """Save big files until the server refuses (at most 16 MB)."""
    for i in range(200):
        cache.save_many([make_package(f"p{i}", f"1.{j}", summary="x" * 4000) for j in range(20)])


def test_a_full_server_raises_cache_full_with_the_password_masked(own_server: RedisServer, tmp_path: Path) -> None:
    admin = redis.Redis(port=own_server.port)
    admin.config_set("maxmemory", "3mb")
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("requirepass", "s3cret")
    admin.close()
    cache = redis_cache(f"redis://:s3cret@127.0.0.1:{own_server.port}/0", tmp_path)
    try:
        with pytest.raises(CacheFull, match="maxmemory") as info:
            fill(cache)
        assert not isinstance(info.value, CacheUnavailable)
        assert "s3cret" not in str(info.value) and f"127.0.0.1:{own_server.port}" in str(info.value)
        with pytest.raises(CacheFull):
            cache.save(make_package("one-more", "1.0", summary="x" * 4000))
        assert cache.fetch("p0-1.0.tar.gz") is not None  # reads still work
    finally:
        cache.close()


def test_a_read_only_replica_says_so(own_server: RedisServer, tmp_path: Path) -> None:
    cache = redis_cache(f"redis://127.0.0.1:{own_server.port}/0", tmp_path)
    cache.save(make_package("before", "1.0"))
    admin = redis.Redis(port=own_server.port)
    admin.replicaof("127.0.0.1", free_port())  # a primary that is not there: the data stays, writes stop
    admin.close()
    try:
        for write in (lambda: cache.save(make_package("after", "1.0")), lambda: cache.clear_all()):
            with pytest.raises(CacheError, match=r"read-only replica: point db\.url at the primary") as info:
                write()
            assert not isinstance(info.value, CacheUnavailable)
        assert cache.distinct() == ["before"]
    finally:
        cache.close()


def _fill_timed(config: dict[str, Any], barrier: Any, gate: ReloadGate, results: Any) -> None:
    barrier.wait()
    cache = load_cache(config, environ={})
    cache.reload_from_storage = gate.held(cache.reload_from_storage)
    results.put(gate.reload_if_needed(cache))
    cache.close()


def test_reload_if_needed_from_four_processes_fills_once(tmp_path: Path) -> None:
    """Four processes at once: one fills, and the others were inside reload_if_needed meanwhile."""
    url, storage = require_shared(), tmp_path / "storage"
    ctx = multiprocessing.get_context("spawn")
    for i in range(300):
        load_cache(_config(url, "unused:", storage, False), environ={}).storage.upload(
            make_package(f"p{i % 40}", f"1.{i}"), b"x"
        )
    config = _config(url, unique_prefix(), storage, False)
    barrier, gate, results = ctx.Barrier(4), ReloadGate(4, ctx), ctx.Queue()
    workers = [ctx.Process(target=_fill_timed, args=(config, barrier, gate, results)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(180)
    assert [w.exitcode for w in workers] == [0] * 4
    runs = [results.get(timeout=5) for _ in workers]
    cache = load_cache(config, environ={})
    try:
        assert_one_reloaded_while_others_called(runs)
        assert len(cache.distinct()) == 40
    finally:
        cache.clear_all()
        cache.close()
