"""DynamoDB under concurrent writers, shared instances, killed reloads and dead lock holders.

Every concurrency test records when each worker was inside an operation and
asserts that the workers really overlapped before it checks the outcome; it
loops (a bounded number of rounds) until enough overlap was seen, so a
loaded machine makes it slower, never wrong.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pkgcache import CacheBusy, CacheError, CacheUnavailable, Package, load_cache
from pkgcache.cache import summarize
from pkgcache.testing import make_package
from pkgcache.testing._overlap import Timeline, run_threads
from pkgcache_dynamo import DynamoCache
from pkgcache_dynamo._errors import classified
from pkgcache_dynamo._items import LOCK_NAME

from .conftest import dynamo_config


def open_cache(config: dict[str, Any], storage: Path) -> DynamoCache:
    cache = load_cache({**config, "storage.dir": str(storage)}, environ={})
    assert isinstance(cache, DynamoCache)
    return cache


def assert_rule(cache: DynamoCache) -> None:
    """Every project with files is in distinct(), and its summary row is the rule over all()."""
    names = sorted({p.name for p in cache._iter_packages()})
    assert cache.distinct() == names
    expected = [summarize(name, cache.all(name)) for name in names]
    assert cache.summary() == expected


# -- writers sharing one instance ----------------------------------------------------------
# (two caches writing the same projects: the kit's test_concurrent_writers_keep_project_rows_right)
def test_one_instance_shared_by_threads(moto_port: int, tmp_path: Path) -> None:
    """boto3 clients are thread-safe and the backend uses nothing else: four threads, one cache."""
    cache = open_cache(dynamo_config(moto_port), tmp_path)
    timeline = Timeline(4)
    saved: list[list[Package]] = [[] for _ in range(4)]

    def work(i: int, rnd: int) -> None:
        for v in range(8):
            own, shared = make_package(f"own{i}", f"{rnd}.{v}"), make_package("shared", f"{rnd}.{v}.{i}")
            with timeline.span(i):
                cache.save_many([own, shared])
            saved[i] += [own, shared]
            if v % 3 == 0:
                with timeline.span(i):
                    cache.clear(shared)
                saved[i].remove(shared)

    def pairs() -> int:
        return sum(timeline.overlaps(i, j) for i in range(4) for j in range(4) if i != j)

    try:
        rounds = 0
        while rounds < 20 and pairs() < 30:  # bounded; a loaded machine needs more rounds
            rounds += 1
            run_threads(*(functools.partial(work, i, rounds) for i in range(4)))
        assert pairs() >= 30, f"the threads overlapped only {pairs()} times in {rounds} rounds"
        stored = {p.filename for p in cache._iter_packages()}
        assert stored == {p.filename for s in saved for p in s}
        assert_rule(cache)
    finally:
        cache.clear_all()
        cache.close()


# -- killed reloads ----------------------------------------------------------------------
def _fill(storage: Path, projects: range, versions: range, tag: str = "") -> None:
    from pkgcache.file_storage import FileStorage

    files = FileStorage(FileStorage.Settings(dir=storage))
    for p in projects:
        for v in versions:
            files.upload(make_package(f"proj{p}", f"{v}.0", summary=f"{tag}{p}.{v}"), b"x")


def _reload_then_die(config: dict[str, Any], storage: str, after_writes: int) -> None:
    """A reload that SIGKILLs its own process right before its ``after_writes``-th batch write."""
    from pkgcache_dynamo import _reconcile

    _reconcile.CHUNK_FILES = 100  # several chunks from a small storage
    cache = open_cache(config, Path(storage))
    count = 0

    def maybe_die(**_: Any) -> None:
        nonlocal count
        count += 1
        if count >= after_writes:
            os.kill(os.getpid(), signal.SIGKILL)

    cache.client.meta.events.register("before-call.dynamodb.BatchWriteItem", maybe_die)
    cache.reload_from_storage()


@pytest.mark.parametrize("after_writes", [1, 2, 5, 13, 21])  # of 24 batch writes in all (the last file write is 22nd)
def test_reload_killed_at_any_point_leaves_rows_that_agree(
    moto_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after_writes: int
) -> None:
    storage = tmp_path / "storage"
    _fill(storage, range(0, 30), range(1, 9))  # 240 files
    config = dynamo_config(moto_port)
    cache = open_cache(config, storage)
    try:
        cache.reload_from_storage()
        # the next state: 15 projects gone, 15 new, new highest versions, every file re-summarized
        for p in range(0, 15):
            for path in (storage / f"proj{p}").rglob("*"):
                if path.is_file():
                    path.unlink()
        _fill(storage, range(15, 45), range(1, 11), tag="new")
        child = multiprocessing.get_context("spawn").Process(
            target=_reload_then_die, args=(config, str(storage), after_writes)
        )
        child.start()
        child.join(300)
        assert child.exitcode == -signal.SIGKILL  # killed midway: it never finished the reload
        assert {p.filename for p in cache._iter_packages()} != {p.filename for p in cache.storage.list()}
        monkeypatch.setattr(DynamoCache, "repair_after", 0.0)  # the killed reload's marks count as stale now
        assert_rule(cache)  # right at once: readers repair what the dead reload marked
        cache.reload_from_storage()
        assert_rule(cache)
        assert {p.filename for p in cache._iter_packages()} == {p.filename for p in cache.storage.list()}
    finally:
        cache.clear_all()
        cache.close()


def test_readers_never_see_an_empty_cache_during_a_plain_reload(
    moto_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads that overlapped the reconciling reload (``_replacing``, streamed and then written) all found projects."""
    storage = tmp_path / "storage"
    _fill(storage, range(0, 30), range(1, 6))
    config = dynamo_config(moto_port)
    cache, reader = open_cache(config, storage), open_cache(config, storage)
    timeline = Timeline(2)
    found: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            with timeline.span(1):
                found.append(len(reader.distinct()))

    replacing = cache._replacing

    @contextlib.contextmanager
    def timed_replacing() -> Iterator[Callable[[Sequence[Package]], None]]:
        with timeline.span(0), replacing() as add:
            yield add

    try:
        cache.reload_from_storage()
        monkeypatch.setattr(cache, "_replacing", timed_replacing)
        thread = threading.Thread(target=read)
        thread.start()
        try:
            for turn in range(30):  # bounded; stops once readers ran inside reloads often enough
                _fill(storage, range(0, 30), range(1, 6), tag=f"turn{turn}")  # every file changes
                cache.reload_from_storage()
                if timeline.overlaps(1, 0) >= 10:
                    break
        finally:
            stop.set()
            thread.join()
        assert timeline.overlaps(1, 0) >= 10, f"only {timeline.overlaps(1, 0)} reads ran during a reload"
        assert found and min(found) > 0
    finally:
        cache.clear_all()
        cache.close()
        reader.close()


# -- the reload lease -------------------------------------------------------------------
def _hold_lease_then_die(config: dict[str, Any], storage: str, ttl: float) -> None:
    DynamoCache.lease_ttl = ttl
    cache = open_cache(config, Path(storage))
    with cache._reload_lock(10) as held:
        assert held
        os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_lease_holder_is_taken_over(moto_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = tmp_path / "storage"
    _fill(storage, range(3), range(1, 3))
    config = dynamo_config(moto_port)
    child = multiprocessing.get_context("spawn").Process(target=_hold_lease_then_die, args=(config, str(storage), 2.0))
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    monkeypatch.setattr(DynamoCache, "lease_ttl", 2.0)
    cache = open_cache(config, storage)
    try:
        tables = cache.tables
        assert tables.get(tables.summaries, "name", LOCK_NAME) is not None  # the dead process still "holds" it
        # with a lock that never expires this would wait the full 120 s and return None
        result = cache.reload_if_needed(timeout=120)
        assert result is not None and result.added == 6
    finally:
        cache.clear_all()
        cache.close()


def test_a_living_holder_keeps_its_lease_beyond_the_ttl(
    moto_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DynamoCache, "lease_ttl", 0.6)
    config = dynamo_config(moto_port)
    holder, other = open_cache(config, tmp_path), open_cache(config, tmp_path)
    entered, done = threading.Event(), threading.Event()
    outcome: list[bool] = []

    def hold() -> None:
        with holder._reload_lock(10) as held:
            outcome.append(held)
            entered.set()
            done.wait(120)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert entered.wait(60)
        with other._reload_lock(3.0) as held:  # five lease lifetimes: only renewal keeps it
            outcome.append(held)
        assert thread.is_alive()  # the holder was inside its block the whole time
    finally:
        done.set()
        thread.join()
        holder.close()
        other.close()
    assert outcome == [True, False]


# -- errors and lifetime -------------------------------------------------------------------
def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "PutItem")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("ProvisionedThroughputExceededException", CacheBusy),
        ("ThrottlingException", CacheBusy),
        ("ValidationException", CacheError),
        ("AccessDeniedException", CacheError),
    ],
)
def test_error_classes(code: str, kind: type[Exception]) -> None:
    with pytest.raises(kind) as info, classified("http://h:1", "s3cr3t"):
        raise _client_error(code, "request with s3cr3t failed")
    assert type(info.value) is kind and not isinstance(info.value, CacheUnavailable)
    assert code in str(info.value) and "s3cr3t" not in str(info.value)


def test_a_missing_table_is_a_clear_cache_error(moto_port: int, tmp_path: Path) -> None:
    cache = open_cache(dynamo_config(moto_port), tmp_path)
    try:
        cache.save(make_package("x", "1"))
        cache.client.delete_table(TableName=cache.package_table_name)
        with pytest.raises(CacheError, match="ResourceNotFoundException") as info:
            cache.fetch("x-1.tar.gz")
        assert not isinstance(info.value, CacheUnavailable)
    finally:
        cache.close()


def test_close_releases_the_client(moto_port: int, tmp_path: Path) -> None:
    cache = open_cache(dynamo_config(moto_port), tmp_path)
    client = cache.client
    closed: list[bool] = []
    original = client.close
    client.close = lambda: (closed.append(True), original())
    cache.close()
    assert closed == [True] and cache._tables is None


def test_unprocessed_items_are_resent_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """A DynamoDB that keeps handing work back ends in CacheBusy, after backing off each round."""
    from pkgcache_dynamo import _tables

    pauses: list[int] = []
    monkeypatch.setattr(_tables, "backoff", lambda attempt, **_: pauses.append(attempt))
    sent: list[dict[str, Any]] = []

    def stubborn(RequestItems: dict[str, Any]) -> dict[str, Any]:
        sent.append(RequestItems)
        return {"UnprocessedItems": RequestItems}

    with pytest.raises(CacheBusy, match="unprocessed 10 times"):
        list(_tables.Tables._resend(stubborn, {"t": [1]}, "UnprocessedItems", "writes to 't'"))
    assert len(sent) == _tables.MAX_ROUNDS + 1 and pauses == list(range(_tables.MAX_ROUNDS))
