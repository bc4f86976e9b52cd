"""What the Redis backend promises beyond the kit: round trips, settings, faults, locks, prefixes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis.connection import Connection

from pkgcache import CacheUnavailable, ConfigError, load_cache, load_settings
from pkgcache.testing import make_package
from pkgcache_redis import RedisCache

from .conftest import RedisServer, require_shared, unique_prefix


def redis_cache(url: str, storage: Path, **keys: Any) -> RedisCache:
    config = {"pypi.db": "redis", "db.url": url, "db.prefix": unique_prefix(), "storage.dir": str(storage), **keys}
    cache = load_cache(config, environ={})
    assert isinstance(cache, RedisCache)
    return cache


@pytest.fixture
def cache(tmp_path: Path) -> Any:
    c = redis_cache(require_shared(), tmp_path)
    yield c
    c.clear_all()
    c.close()


class RoundTrips:
    """Counts what the client sends: one packed send is one round trip (a pipeline included)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = Connection.send_packed_command

        def counting(conn: Connection, command: Any, check_health: bool = True) -> None:
            self.count += 1
            real(conn, command, check_health)

        monkeypatch.setattr(Connection, "send_packed_command", counting)

    def of(self, call: Callable[[], object]) -> int:
        before = self.count
        call()
        return self.count - before


@pytest.mark.parametrize("projects", [20, 400])
def test_every_call_costs_a_bounded_number_of_round_trips(
    cache: RedisCache, monkeypatch: pytest.MonkeyPatch, projects: int
) -> None:
    cache.save_many([make_package(f"p{i}", f"1.{j}") for i in range(projects) for j in range(3)])
    big = make_package("p0", "9.9")
    cache.save(big)
    cache.clear(big)  # scripts now cached on the server
    trips = RoundTrips(monkeypatch)
    assert trips.of(lambda: cache.fetch(big.filename)) == 1
    assert trips.of(lambda: cache.all("p1")) == 1
    assert trips.of(cache.distinct) == 1
    assert trips.of(cache.summary) == 1
    # search: the projects' search rows, then the winners' files (none matching: no second trip)
    assert trips.of(lambda: cache.search({"name": ["p1"]}, "or")) == 2
    assert trips.of(lambda: cache.search({"name": ["nothing"]}, "or")) == 1
    assert trips.of(lambda: cache.save(big)) == 1
    assert trips.of(lambda: cache.clear(big)) == 1
    assert trips.of(lambda: cache.save(make_package("moved", "1", filename=big.filename))) == 1
    # a batch: SCRIPT EXISTS, then the pipelined scripts
    assert trips.of(lambda: cache.save_many([make_package(f"b{i}", "1") for i in range(500)])) == 2
    assert cache.fetch(big.filename).name == "moved"  # type: ignore[union-attr]
    assert len(cache.all("p0")) == 3


def test_two_prefixes_share_a_server(tmp_path: Path) -> None:
    url = require_shared()
    one, two = redis_cache(url, tmp_path), redis_cache(url, tmp_path)
    try:
        one.save(make_package("only-in-one", "1"))
        assert two.distinct() == []
        two.save(make_package("only-in-two", "1"))
        two.clear_all()
        assert one.distinct() == ["only-in-one"]
    finally:
        one.clear_all()
        one.close()
        two.close()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"db.url": "http://h"}, "must start with redis://, rediss:// or unix://"),
        ({"db.url": "redis://h:99999/0"}, "the port must be a number from 1 to 65535"),
        ({"db.url": "redis://h/x"}, "the database index must be a whole number"),
        ({"db.url": "unix://"}, "needs the socket's path"),
        ({"db.url": "redis://h/2", "db.clustered": "yes"}, "Redis Cluster has only database 0"),
        ({"db.url": "redis://h", "db.prefix": "a{b}"}, "must not contain '{' or '}'"),
    ],
)
def test_settings_errors(keys: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_settings({"pypi.db": "redis", "storage.dir": "/x", **keys}, environ={})


def test_good_urls() -> None:
    for url in ("redis://u:pw@h:6380/3", "rediss://h", "unix:///run/redis.sock?db=2"):
        settings = load_settings({"pypi.db": "redis", "db.url": url, "storage.dir": "/x"}, environ={})
        assert "pw" not in repr(settings)


def test_server_stop_and_restart(own_server: RedisServer, tmp_path: Path) -> None:
    cache = redis_cache(f"redis://127.0.0.1:{own_server.port}/0", tmp_path, **{"db.socket_timeout": "1"})
    try:
        cache.save(make_package("up", "1"))
        own_server.stop()
        started = time.monotonic()
        with pytest.raises(CacheUnavailable, match=f"127.0.0.1:{own_server.port}"):
            cache.distinct()
        assert time.monotonic() - started < 5
        ok, message = cache.check_health()
        assert not ok and str(own_server.port) in message
        own_server.start()
        assert cache.distinct() == []  # the restarted server kept nothing on disk
        cache.save(make_package("again", "1"))
        assert cache.distinct() == ["again"]
        assert cache.check_health()[0]
    finally:
        cache.close()
    masked = redis_cache(f"redis://:s3cret@127.0.0.1:{own_server.port}/0", tmp_path)
    own_server.stop()
    with pytest.raises(CacheUnavailable) as info:
        masked.fetch("x")
    assert "s3cret" not in str(info.value)
    assert "s3cret" not in masked.check_health()[1]


def test_re_saving_files_keeps_the_project_row_right(cache: RedisCache) -> None:
    """Re-saves skip the full recompute unless the best file moved down or the newest got older."""
    from pkgcache.cache import summarize

    files = [make_package("proj", f"1.{i}", minutes=i, summary=f"s{i}") for i in range(6)]
    cache.save_many(files)
    changes = [
        make_package("proj", "1.5", minutes=5, summary="best, new summary"),  # best re-saved as is
        make_package("proj", "0.1", filename=files[5].filename, minutes=5),  # best moves down
        make_package("proj", "1.4", minutes=0, summary="s4"),  # the newest gets older
        make_package("proj", "1.2", minutes=99, summary="s2"),  # another becomes the newest
        make_package("proj", "9.0", filename=files[0].filename, minutes=1),  # the lowest becomes the best
        make_package("proj", "1.3", minutes=3, summary="s3 again"),  # neither best nor newest
    ]
    for package in changes:
        cache.save(package)
        assert cache.summary() == [summarize("proj", cache.all("proj"))], package


@pytest.mark.parametrize("kind", ["standalone", "cluster"])
def test_a_project_named_like_the_index_keeps_apart(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Project keys are tagged by the project's name; a project called ``index`` once
    shared its keys with the index of all files."""
    url = require_shared() if kind == "standalone" else request.getfixturevalue("cluster_url")
    cache = redis_cache(url, tmp_path, **({"db.clustered": "true"} if kind == "cluster" else {}))
    try:
        named = [make_package(name, "1.0", summary=f"the {name} project") for name in ("index", "summary", "files")]
        other = make_package("other", "2.0", summary="another")
        cache.save_many([*named, other])
        assert cache.distinct() == ["files", "index", "other", "summary"]
        for package in [*named, other]:
            assert cache.fetch(package.filename) is not None
            assert [p.filename for p in cache.all(package.name)] == [package.filename]
        assert [row["summary"] for row in cache.summary()] == [
            "the files project",
            "the index project",
            "another",
            "the summary project",
        ]
        cache.clear(named[0])
        assert cache.distinct() == ["files", "other", "summary"]
        assert cache.fetch(other.filename) is not None
    finally:
        cache.clear_all()
        cache.close()
