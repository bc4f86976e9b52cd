"""The DynamoDB backend's incremental, streamed reload: tokens stored, what is read, what is written when."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pkgcache import ReloadRefused
from pkgcache.testing import make_package
from pkgcache_dynamo import DynamoCache, _reconcile

from .conftest import dynamo_config
from .test_dynamo_backend import dynamo_cache
from .test_dynamo_concurrency import _fill, assert_rule


@pytest.fixture
def cache(moto_port: int, tmp_path: Path) -> Iterator[DynamoCache]:
    cache = dynamo_cache(dynamo_config(moto_port), tmp_path / "storage")
    (tmp_path / "storage").mkdir()
    try:
        yield cache
    finally:
        cache.clear_all()
        cache.close()


def _calls(cache: DynamoCache, operation: str) -> list[dict[str, Any]]:
    """The parameters of every ``operation`` request the cache makes from now on."""
    made: list[dict[str, Any]] = []
    cache.client.meta.events.register(
        f"provide-client-params.dynamodb.{operation}", lambda params, **_: made.append(params)
    )
    return made


def test_an_item_without_a_token_reads_back_as_none(cache: DynamoCache) -> None:
    with_token, without = make_package("tok", "1.0"), make_package("tok", "2.0")
    with_token.token = "12:34:56"
    cache.save_many([with_token, without])
    tables = cache.tables
    item = tables.get(tables.packages, "filename", with_token.filename)
    assert item is not None and item["token"] == "12:34:56"
    assert "token" not in (tables.get(tables.packages, "filename", without.filename) or {})
    assert cache.fetch(with_token.filename).token == "12:34:56"  # type: ignore[union-attr]
    assert cache.fetch(without.filename).token is None  # type: ignore[union-attr]
    assert {p.filename: p.token for p in cache.all("tok")} == {with_token.filename: "12:34:56", without.filename: None}
    assert dict(cache._iter_tokens()) == {with_token.filename: "12:34:56", without.filename: None}
    assert {
        f: p.token for f, p in cache._fetch_many([without.filename, with_token.filename, "x-1.0.tar.gz"]).items()
    } == {
        with_token.filename: "12:34:56",
        without.filename: None,
    }


def test_iter_tokens_reads_only_filenames_and_tokens(cache: DynamoCache) -> None:
    packages = [make_package(f"p{i}", "1.0", summary="a summary " * 50) for i in range(30)]
    for p in packages:
        p.token = f"t{p.name}"
    cache.save_many(packages)
    scans = _calls(cache, "Scan")
    returned: list[set[str]] = []
    cache.client.meta.events.register(
        "after-call.dynamodb.Scan", lambda parsed, **_: returned.extend(set(i) for i in parsed.get("Items", []))
    )
    assert sorted(cache._iter_tokens()) == sorted((p.filename, p.token) for p in packages)
    assert scans and all("ProjectionExpression" in s for s in scans)
    assert returned and all(keys <= {"filename", "token"} for keys in returned)


def test_fetch_many_is_one_batch_get_per_hundred(cache: DynamoCache) -> None:
    packages = [make_package(f"m{i % 9}", f"1.{i}") for i in range(150)]
    cache.save_many(packages)
    gets, single = _calls(cache, "BatchGetItem"), _calls(cache, "GetItem")
    found = cache._fetch_many([p.filename for p in packages])
    assert set(found) == {p.filename for p in packages} and len(gets) == 2 and not single


def test_a_refused_plain_reload_writes_nothing(cache: DynamoCache) -> None:
    """The listing is compared and spooled while it streams; nothing is written before the guard passes."""
    packages = [make_package(f"r{i}", "1.0", summary="old") for i in range(4)]
    for p in packages:
        cache.storage.upload(p, b"x")
    cache.reload_from_storage()
    before = sorted((p.filename, p.summary, p.token) for p in cache._iter_packages())
    rows = sorted(cache.tables.scan(cache.tables.summaries), key=lambda r: r["name"])
    for p in packages[:3]:
        cache.storage.delete(p)
    cache.storage.upload(make_package("r3", "1.0", summary="new"), b"y")  # a change that must wait
    cache.storage.upload(make_package("r9", "1.0"), b"z")
    writes = _calls(cache, "BatchWriteItem")
    with pytest.raises(ReloadRefused):
        cache.reload_from_storage(max_delete=0.5)
    assert not writes
    assert sorted((p.filename, p.summary, p.token) for p in cache._iter_packages()) == before
    assert sorted(cache.tables.scan(cache.tables.summaries), key=lambda r: r["name"]) == rows


def test_a_filename_listed_in_two_batches_keeps_the_last(cache: DynamoCache) -> None:
    first = [make_package(f"d{i % 3}", f"1.{i}", summary=f"first {i}", minutes=i) for i in range(9)]
    again = make_package("d0", "1.0", summary="second", minutes=100)  # same filename as first[0], newest now
    with cache._replacing() as add:
        add(first)
        add([make_package("e0", "1.0")])
        add([again])
    stored = cache.fetch(again.filename)
    assert stored is not None and stored.summary == "second"
    assert len(list(cache._iter_packages())) == 10
    assert_rule(cache)


def test_kept_files_per_project_stay_few() -> None:
    """The reconciler's memory per project is its best, newest and highest file per summary."""
    project = _reconcile._Project()
    for i in range(500):
        project.add(_reconcile.package_item(make_package("big", f"1.{i}", summary="same", minutes=i)))
    kept = {i["filename"] for i in (project.best, project.newest, *(project.by_summary or {}).values()) if i}
    assert len(kept) <= 2
    many = _reconcile._Project()
    for i in range(3000):
        many.add(_reconcile.package_item(make_package("big", f"1.{i}", summary=f"summary number {i:05d}")))
    assert many.by_summary is None  # more summaries than a row keeps: only best and newest stay


def test_projects_are_marked_before_their_files_change_and_marks_are_renewed(
    cache: DynamoCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file write finds each project it touches, and each touched before, marked dirty, and with
    ``repair_after`` at 0 every mark it finds is newer than the previous file write: marks are renewed
    before a reader could take them for a dead reload's."""
    storage = tmp_path / "storage"
    _fill(storage, range(0, 12), range(1, 6))
    cache.reload_from_storage()
    _fill(storage, range(0, 12), range(1, 6), tag="changed")
    monkeypatch.setattr(_reconcile, "CHUNK_FILES", 10)
    monkeypatch.setattr(DynamoCache, "repair_after", 0.0)
    touched: set[str] = set()
    previous = [""]
    checked = [0]

    def check(params: dict[str, Any], **_: Any) -> None:
        ((table, requests),) = params["RequestItems"].items()
        if table != cache.tables.packages:
            return
        names = {r["PutRequest"]["Item"]["name"]["S"] for r in requests if "PutRequest" in r}
        touched.update(names)
        rows = cache.tables.get_many(cache.tables.summaries, "name", sorted(touched))
        assert all(rows[n].get("dirty", "") > previous[0] for n in touched), "a touched project is not marked"
        previous[0] = _reconcile.dirty_mark()
        checked[0] += 1

    event = "provide-client-params.dynamodb.BatchWriteItem"
    cache.client.meta.events.register(event, check)
    try:
        cache.reload_from_storage()
    finally:
        cache.client.meta.events.unregister(event, check)
    assert checked[0] >= 3 and len(touched) == 12
    assert not [r for r in cache.tables.scan(cache.tables.summaries) if "dirty" in r]
    assert_rule(cache)
