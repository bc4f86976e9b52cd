"""Tokens and the streaming plain reload, on standalone Redis and on the cluster fixture."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pkgcache import Package, ReloadRefused, load_cache
from pkgcache.rules import sort_packages, summarize
from pkgcache.testing import make_package
from pkgcache_redis import RedisCache

from .conftest import require_shared, unique_prefix
from .test_redis_backend import RoundTrips

STAGED = "~tmp."


@pytest.fixture(params=["standalone", "cluster"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisCache]:
    config = {"pypi.db": "redis", "db.prefix": unique_prefix(), "storage.dir": str(tmp_path)}
    if request.param == "cluster":
        config |= {"db.url": request.getfixturevalue("cluster_url"), "db.clustered": "true"}
    else:
        config["db.url"] = require_shared()
    c = load_cache(config, environ={})
    assert isinstance(c, RedisCache)
    yield c
    c._delete(sorted(c._own_keys()))
    c.close()


def _staged(cache: RedisCache) -> set[str]:
    return set(cache._own_keys("*" + STAGED + "*"))


def _state(cache: RedisCache) -> tuple[Any, ...]:
    files = {name: [p.to_dict() for p in cache.all(name)] for name in cache.distinct()}
    return files, cache.summary(), sorted(p.filename for p in cache._iter_packages())


def test_tokens_are_stored_and_old_rows_read_as_none(cache: RedisCache) -> None:
    odd = make_package("tok", "1.0")
    odd.token = '"etag\\1é":42'  # an S3 ETag holds quotes; a backslash and non-ASCII too
    plain = make_package("tok", "2.0")
    cache.save_many([odd, plain])
    # a row written before tokens were stored: no "o" key at all
    old = {"n": "tok", "v": "3.0", "f": "tok-3.0.tar.gz", "k": make_package("tok", "3.0").sort_key}
    raw = json.dumps({**old, "t": "00000000000000000000", "s": None, "d": {}}, separators=(",", ":"))
    cache.client.hset(cache.index_key, "tok-3.0.tar.gz", raw)
    cache.client.hset(cache._files_key("tok"), "tok-3.0.tar.gz", raw)

    expected = {odd.filename: odd.token, plain.filename: None, "tok-3.0.tar.gz": None}
    assert dict(cache._iter_tokens()) == expected
    assert {p.filename: p.token for p in cache.all("tok")} == expected
    assert {f: p.token for f, p in cache._fetch_many([*expected, "absent.tar.gz"]).items()} == expected
    fetched = cache.fetch(odd.filename)
    assert fetched is not None and fetched.token == odd.token and fetched.same_as(odd)


def test_tokens_stream_in_pages_and_fetch_many_is_one_round_trip(
    cache: RedisCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    packages = [make_package(f"s{i % 30}", f"1.{i}") for i in range(2500)]
    for i, p in enumerate(packages):
        p.token = f"t{i}"
    cache.save_many(packages)
    tokens = list(cache._iter_tokens())
    assert sorted(tokens) == sorted((p.filename, p.token) for p in packages)
    if not cache.settings.clustered:  # the cluster client's node connections are counted apart
        trips = RoundTrips(monkeypatch)
        names = [p.filename for p in packages[:1000]]
        assert trips.of(lambda: cache._fetch_many(names)) == 1
        assert trips.of(lambda: list(cache._iter_tokens())) > 1  # HSCAN pages, not one reply of everything


def test_a_filename_repeated_or_moved_across_batches_keeps_the_last(cache: RedisCache) -> None:
    first = [make_package("a", f"1.{i}", minutes=i, summary=f"a {i}") for i in range(5)]
    moved = Package("b", "9.0", first[4].filename, first[4].last_modified, "moved to b")
    resaved = make_package("a", "1.3", minutes=99, summary="a 3 again")
    final = {p.filename: p for p in [*first, moved, resaved, make_package("b", "1.0")]}
    with cache._replacing() as add:
        add(first)
        add([moved, resaved])
        add([make_package("b", "1.0")])
        assert cache.distinct() == []  # reads see the old contents until the switch
    assert _staged(cache) == set()
    by_name: dict[str, list[Package]] = {}
    for p in final.values():
        by_name.setdefault(p.name, []).append(p)
    assert cache.distinct() == ["a", "b"]
    for name, files in by_name.items():
        assert [p.to_dict() for p in cache.all(name)] == [p.to_dict() for p in sort_packages(files)]
    assert cache.summary() == [summarize(n, by_name[n]) for n in ("a", "b")]


def test_a_refused_reload_drops_its_staged_keys_and_keeps_the_contents(cache: RedisCache) -> None:
    cache.save_many([make_package(f"keep{i}", "1.0") for i in range(10)])
    before = _state(cache)
    for package in [make_package(f"new{i}", "1.0") for i in range(2500)]:
        cache.storage.upload(package, b"x")
    with pytest.raises(ReloadRefused, match="max_delete"):
        cache.reload_from_storage(max_delete=0.5)  # would remove all ten: refused after every batch
    assert _staged(cache) == set()
    assert _state(cache) == before

    def fail_midway() -> None:
        with cache._replacing() as add:
            add([make_package("other", "1.0")])
            raise RuntimeError("midway")

    with pytest.raises(RuntimeError, match="midway"):
        fail_midway()
    assert _staged(cache) == set()
    assert _state(cache) == before


def test_a_project_whose_files_all_moved_across_batches_is_gone(cache: RedisCache) -> None:
    """Rows are counted from the staged files at the switch: a project left without
    files by later batches has no rows, and the others' search rows follow their files."""
    old = make_package("gone", "1.0", summary="was here")
    cache.save(old)
    first = [make_package("c", f"1.{i}", minutes=i, summary=f"c {i % 2}") for i in range(4)]
    with cache._replacing() as add:
        add(first)
        add([Package("d", "2.0", p.filename, p.last_modified, "now d") for p in first[:3]])
        add([Package("d", "3.0", first[3].filename, first[3].last_modified, None)])
    assert _staged(cache) == set()
    assert cache.distinct() == ["d"]
    assert [p.version for p in cache.search({"summary": ["now"]}, "or")] == ["2.0"]
    assert [p.version for p in cache.search({"name": ["d"]}, "or")] == ["3.0"]
    assert cache.search({"summary": ["c", "was"]}, "or") == []
    assert set(cache.client.hkeys(cache.search_key)) == {"d"}
