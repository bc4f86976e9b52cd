"""Search reads each project's search rows, not its files: the rows must follow the files.

Every test compares with the rule itself: the search rows computed from
``all()``, and :func:`pkgcache.rules.search_packages` over every file, on a
standalone server and on the cluster, after single writes, moves, clears, plain
and graceful reloads.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pkgcache import Package, load_cache
from pkgcache.rules import check_search_args, search_packages
from pkgcache.testing import make_package
from pkgcache_redis import RedisCache

from .conftest import require_shared, unique_prefix

#: casefold pairs and text that differs between versions of one project
SUMMARIES = [None, "", "Straße tools", "STRASSE", "ﬁle helper", "FILE", "Ünïcode ✓", "ÜNÏCODE", "100% _literal_", "ß"]
TERMS = ["strasse", "ß", "file", "fi", "ünïcode", "%", "_", "tools", "", "p1", "q-", "x"]


def stored_search_rows(cache: RedisCache) -> dict[str, set[tuple[str, str, str]]]:
    rows = cache.client.hgetall(cache.search_key)
    out = {}
    for name, raw in rows.items():
        parts = raw.split("\0")
        out[name] = set(zip(parts[0::3], parts[1::3], parts[2::3], strict=True))
    return out


def expected_search_rows(cache: RedisCache) -> dict[str, set[tuple[str, str, str]]]:
    """Per project, each distinct summary with the first file in ``all()`` order that has it."""
    out = {}
    for name in cache.distinct():
        first: dict[str, tuple[str, str, str]] = {}
        for p in cache.all(name):
            first.setdefault(p.summary or "", (p.summary or "", p.sort_key, p.filename))
        out[name] = set(first.values())
    return out


def every_file(cache: RedisCache) -> list[Package]:
    return [p for name in cache.distinct() for p in cache.all(name)]


def check_search(cache: RedisCache) -> None:
    """The search rows follow the files, and search answers as the rule does over every file."""
    assert stored_search_rows(cache) == expected_search_rows(cache)
    files = every_file(cache)
    for term in TERMS:
        for criteria in ({"name": [term]}, {"summary": [term]}, {"name": [term], "summary": [term]}):
            for query_type in ("and", "or"):
                want = search_packages(files, check_search_args(criteria, query_type), query_type)
                got = cache.search(criteria, query_type)
                assert [p.to_dict() for p in got] == [p.to_dict() for p in want], (criteria, query_type)
    both = {"name": ["p"], "summary": ["file", "ß"]}
    for query_type in ("and", "or"):
        want = search_packages(files, check_search_args(both, query_type), query_type)
        assert [p.to_dict() for p in cache.search(both, query_type)] == [p.to_dict() for p in want]


@pytest.fixture(params=["standalone", "cluster"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisCache]:
    config: dict[str, Any] = {"pypi.db": "redis", "db.prefix": unique_prefix(), "storage.dir": str(tmp_path)}
    if request.param == "standalone":
        config["db.url"] = require_shared()
    else:
        config.update({"db.url": request.getfixturevalue("cluster_url"), "db.clustered": "true"})
    made = load_cache(config, environ={})
    assert isinstance(made, RedisCache)
    yield made
    made.clear_all()
    made.close()


def _random_package(rng: random.Random) -> Package:
    name = rng.choice(["p1", "p2", "q-3"])
    version = rng.choice(["1.0", "2.0", "2.0rc1", "10.0", "not-a-version"])
    suffix = rng.choice([".tar.gz", "-py3-none-any.whl"])
    return make_package(
        name, version, f"{name}-{version}{suffix}", minutes=rng.randrange(100), summary=rng.choice(SUMMARIES)
    )


def test_search_rows_follow_single_writes(cache: RedisCache) -> None:
    """Saves, re-saves with another summary or version order, moves between projects, clears."""
    rng = random.Random(5)
    for step in range(300):
        p = _random_package(rng)
        op = rng.randrange(4)
        if op == 0:
            cache.clear(p)
        elif op == 1:  # the same filename under another project: a move
            cache.save(make_package(rng.choice(["p1", "p2"]), "3.0", p.filename, summary=rng.choice(SUMMARIES)))
        else:
            cache.save(p)
        if step % 25 == 0:
            check_search(cache)
    check_search(cache)


def test_search_rows_follow_batches_and_reloads(cache: RedisCache) -> None:
    rng = random.Random(9)
    for _ in range(20):
        cache.save_many([_random_package(rng) for _ in range(8)])
    check_search(cache)
    for _ in range(30):  # the storage, then a plain reload, changes, a graceful reload
        p = _random_package(rng)
        cache.storage.upload(p, b"x")
    cache.reload_from_storage()
    check_search(cache)
    for p in list(cache.storage.list())[::3]:
        changed = make_package(p.name, p.version, p.filename, minutes=7, summary=rng.choice(SUMMARIES))
        cache.storage.upload(changed, b"y")
    cache.reload_from_storage(graceful=True)
    check_search(cache)
    cache.clear_all()
    assert cache.search({"name": ["p"]}, "or") == []
    assert stored_search_rows(cache) == {}


def test_a_write_between_the_cluster_switch_steps_keeps_its_search_rows(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """On a cluster a plain reload renames the projects' keys, then the index's: a project
    written in between keeps its live summary and search rows (not the reload's)."""
    config = {
        "pypi.db": "redis",
        "db.url": request.getfixturevalue("cluster_url"),
        "db.clustered": "true",
        "db.prefix": unique_prefix(),
        "storage.dir": str(tmp_path),
    }
    cache = load_cache(config, environ={})
    assert isinstance(cache, RedisCache)
    try:
        for i in range(6):
            cache.storage.upload(make_package(f"p{i % 2}", f"1.{i}", summary="from the storage"), b"x")
        real = cache.scripts.index_swap
        written = make_package("p0", "0.1", minutes=99, summary="written during the switch")

        def between(**kwargs: Any) -> Any:
            cache.save(written)  # its project keys are live already, the index's not yet
            return real(**kwargs)

        cache.scripts.index_swap = between
        cache.reload_from_storage()
        cache.scripts.index_swap = real
        assert stored_search_rows(cache) == expected_search_rows(cache)
        assert ("written during the switch", written.sort_key, written.filename) in stored_search_rows(cache)["p0"]
        cache.save(written)  # written again: in the index too
        check_search(cache)
    finally:
        cache.clear_all()
        cache.close()


def test_a_winner_missing_from_the_index_is_searched_in_its_project(cache: RedisCache) -> None:
    """On a cluster a file written between a reload's two switch steps is in its project's
    keys but not yet in the index: search reads that project's own files for it."""
    cache.save_many([make_package("gap", "1.0", summary="found here"), make_package("gap", "2.0", summary="other")])
    cache.save(make_package("kept", "1.0", summary="found here too"))
    cache.client.hdel(cache.index_key, "gap-1.0.tar.gz")  # the index one step behind
    found = cache.search({"summary": ["found"]}, "or")
    assert [(p.name, p.version) for p in found] == [("gap", "1.0"), ("kept", "1.0")]
