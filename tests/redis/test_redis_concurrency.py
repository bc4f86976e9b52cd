"""Two writers on the same projects, standalone and on the cluster: the per-project rows stay right.

Each writer is a process with its own client and its own storage
folder, and records the monotonic start and end of every operation; the
test counts how many operations of the two writers overlapped in time and
keeps going (bounded) until enough did, so a pass proves real interleaving.
"""

from __future__ import annotations

import bisect
import contextlib
import multiprocessing
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pkgcache import Cache, load_cache
from pkgcache.cache import summarize
from pkgcache.rules import check_search_args, search_packages
from pkgcache.testing import make_package
from pkgcache_redis import RedisCache

from .conftest import require_shared, unique_prefix
from .test_redis_search import stored_search_rows

PROJECTS = ["alpha", "beta"]
OPS_PER_ROUND = 40
MIN_OVERLAPS, MIN_ROUNDS, MAX_ROUNDS = 1000, 50, 400

Interval = tuple[float, float]


def _operate(cache: Cache, rng: random.Random, log: list[Interval], filenames: set[str]) -> None:
    """One random write on a random project: save, save_many, clear, upload or delete."""
    name = rng.choice(PROJECTS)

    def package(minor: int) -> Any:
        p = make_package(name, f"1.{minor}", minutes=rng.randrange(10_000), summary=f"{name} 1.{minor} {rng.random()}")
        filenames.add(p.filename)
        return p

    op = rng.randrange(5)
    start = time.monotonic()
    if op == 0:
        cache.save(package(rng.randrange(3)))
    elif op == 1:
        cache.save_many([package(rng.randrange(5)) for _ in range(3)])
    elif op == 2:
        cache.clear(package(rng.randrange(3)))
    elif op == 3:
        p = package(rng.randrange(5))
        cache.upload(p.filename, b"x", name=p.name, version=p.version, summary=p.summary, last_modified=p.last_modified)
    else:
        cache.delete(package(rng.randrange(3)))
    log.append((start, time.monotonic()))


def overlaps(one: list[Interval], two: list[Interval]) -> int:
    """Pairs of intervals, one from each (each list sorted, intervals disjoint), that overlap in time."""
    starts, ends = [s for s, _ in two], [e for _, e in two]
    return sum(bisect.bisect_left(starts, end) - bisect.bisect_right(ends, start) for start, end in one)


def check_rule(cache: Cache, names: list[str], filenames: set[str]) -> None:
    """distinct, summary, search and fetch agree with all(): every project with files, its
    rows by the rule."""
    files = {name: cache.all(name) for name in names}
    having = sorted(name for name, packages in files.items() if packages)
    assert cache.distinct() == having
    assert cache.summary() == [summarize(name, files[name]) for name in having]
    assert isinstance(cache, RedisCache)
    search_rows: dict[str, set[tuple[str, str, str]]] = {}
    for name in having:
        first: dict[str, tuple[str, str, str]] = {}
        for p in files[name]:
            first.setdefault(p.summary or "", (p.summary or "", p.sort_key, p.filename))
        search_rows[name] = set(first.values())
    assert stored_search_rows(cache) == search_rows
    every = [p for packages in files.values() for p in packages]
    for criteria in ({"summary": ["1.1"]}, {"summary": ["1.3", "1.0"]}, {"name": ["alpha"]}):
        want = search_packages(every, check_search_args(criteria, "or"), "or")
        assert [p.to_dict() for p in cache.search(criteria, "or")] == [p.to_dict() for p in want]
    stored = {p.filename: p for packages in files.values() for p in packages}
    for filename in filenames:
        found = cache.fetch(filename)
        if filename in stored:
            assert found is not None and found.to_dict() == stored[filename].to_dict()
        else:
            assert found is None, filename


def _writer(config: dict[str, Any], seed: int, start: Any, done: Any, stop: Any, logs: Any, names: Any) -> None:
    """A writer process: one batch of operations per round, between the parent's barriers."""
    cache = load_cache(config, environ={})
    rng = random.Random(seed)
    try:
        while True:
            start.wait()
            if stop.is_set():
                return
            log: list[Interval] = []
            filenames: set[str] = set()
            for _ in range(OPS_PER_ROUND):
                _operate(cache, rng, log, filenames)
            logs.put(log)
            names.put(sorted(filenames))
            done.wait()
    finally:
        cache.close()


def _two_writers(configs: list[dict[str, Any]]) -> None:
    """Two writer processes, each with its own client, checked after every round."""
    ctx = multiprocessing.get_context("spawn")
    start, done, stop, logs, names = ctx.Barrier(3), ctx.Barrier(3), ctx.Event(), ctx.Queue(), ctx.Queue()
    workers = [
        ctx.Process(target=_writer, args=(config, seed, start, done, stop, logs, names))
        for seed, config in enumerate(configs)
    ]
    checker = load_cache(configs[0], environ={})
    filenames: set[str] = set()
    seen = rounds = 0
    try:
        for w in workers:
            w.start()
        while (seen < MIN_OVERLAPS or rounds < MIN_ROUNDS) and rounds < MAX_ROUNDS:
            rounds += 1
            start.wait(60)
            one, two = logs.get(timeout=120), logs.get(timeout=120)
            for _ in workers:
                filenames.update(names.get(timeout=10))
            done.wait(60)
            seen += overlaps(one, two)
            check_rule(checker, PROJECTS, filenames)
        assert seen >= MIN_OVERLAPS, f"the writers overlapped only {seen} times in {rounds} rounds"
    finally:
        stop.set()
        for w in workers:
            if w.is_alive():
                with contextlib.suppress(threading.BrokenBarrierError):
                    start.wait(5)
                break
        for w in workers:
            w.join(30)
            if w.is_alive():
                w.kill()
        checker.clear_all()
        checker.close()
    assert [w.exitcode for w in workers] == [0, 0]


def _config(url: str, prefix: str, storage: Path, clustered: bool) -> dict[str, Any]:
    config = {"pypi.db": "redis", "db.url": url, "db.prefix": prefix, "storage.dir": str(storage)}
    if clustered:
        config["db.clustered"] = "true"
    return config


def test_two_writers_standalone(tmp_path: Path) -> None:
    url, prefix = require_shared(), unique_prefix()
    _two_writers([_config(url, prefix, tmp_path / f"s{i}", False) for i in range(2)])


def test_two_writers_cluster(tmp_path: Path, cluster_url: str) -> None:
    prefix = unique_prefix()
    _two_writers([_config(cluster_url, prefix, tmp_path / f"s{i}", True) for i in range(2)])


def test_overlap_count_counts_only_overlaps() -> None:
    assert overlaps([(0, 1), (2, 3)], [(1.5, 1.8)]) == 0
    assert overlaps([(0, 1), (2, 3)], [(0.5, 2.5)]) == 2
    assert overlaps([(0, 10)], [(1, 2), (3, 4), (11, 12)]) == 2


@pytest.mark.parametrize("clustered", [False, True])
def test_reload_switch_keeps_a_write_made_after_it(
    tmp_path: Path, request: pytest.FixtureRequest, clustered: bool
) -> None:
    """A plain reload followed by writes: the rows follow the writes, not the reload's snapshot."""
    url = request.getfixturevalue("cluster_url") if clustered else require_shared()
    cache = load_cache(_config(url, unique_prefix(), tmp_path, clustered), environ={})
    try:
        for i in range(20):
            cache.storage.upload(make_package(f"p{i % 4}", f"1.{i}"), b"x")
        cache.reload_from_storage()
        newest = make_package("p0", "9.0", minutes=99, summary="after the reload")
        cache.save(newest)
        cache.clear(make_package("p1", "1.1"))
        check_rule(cache, [f"p{i}" for i in range(4)], {newest.filename, make_package("p1", "1.1").filename})
        assert cache.summary()[0]["summary"] == "after the reload"
    finally:
        cache.clear_all()
        cache.close()
