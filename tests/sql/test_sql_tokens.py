"""The change tokens of the SQL backend: schema 3 brought them, a graceful reload lives on them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, select, text, update

from pkgcache import Package
from pkgcache.storage import Entry
from pkgcache_sql.schema import SCHEMA_VERSION, files, meta

from .test_sql_backend import sql_cache


def test_schema_2_is_migrated_to_3_and_the_next_graceful_reload_fills_the_tokens(any_url: str, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    with sql_cache(any_url, storage) as cache:
        cache.clear_all()
        for i in range(6):
            cache.upload(f"tok-1.{i}.tar.gz", b"x", summary=f"s{i}")
        before = {p.filename: p.to_dict() for p in cache.all("tok")}
        with cache.engine.begin() as conn:  # what release 2 left: no token column, version 2
            conn.execute(text("ALTER TABLE pkgcache_files DROP COLUMN token"))
            conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="2"))
    with sql_cache(any_url, storage) as cache:
        assert {p.filename: p.to_dict() for p in cache.all("tok")} == before
        with cache.engine.connect() as conn:
            assert conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar() == "4"
            assert "token" in {c["name"] for c in inspect(conn).get_columns(files.name)}
        assert SCHEMA_VERSION == 4
        assert dict(cache._iter_tokens()) == dict.fromkeys(before)  # unknown: every file is read once
        read: list[str] = []
        real = cache.storage.read

        def counted(entry: Entry) -> Package | None:
            read.append(entry.filename)
            return real(entry)

        cache.storage.read = counted  # type: ignore[method-assign]
        first = cache.reload_from_storage(graceful=True)
        assert (first.added, first.updated, first.unchanged, sorted(read)) == (0, 0, 6, sorted(before))
        read.clear()
        second = cache.reload_from_storage(graceful=True)
        assert (second.unchanged, read) == (6, [])
        cache.clear_all()


def test_a_token_too_long_for_its_column_is_not_stored(any_url: str, tmp_path: Path) -> None:
    with sql_cache(any_url, tmp_path / "storage") as cache:
        cache.clear_all()
        short, long = Package("tl", "1", "tl-1.tar.gz"), Package("tl", "2", "tl-2.tar.gz")
        short.token, long.token = "a" * 255, "b" * 256
        cache.save_many([short, long])
        assert dict(cache._iter_tokens()) == {"tl-1.tar.gz": "a" * 255, "tl-2.tar.gz": None}
        cache.clear_all()


def test_a_streaming_plain_reload_writes_the_same_summary_rows_as_the_files_give(any_url: str, tmp_path: Path) -> None:
    """Projects interleaved across the reload's batches (the rows of the projects a
    batch did not end with are written early, and rewritten when met again)."""
    from pkgcache.rules import summarize
    from pkgcache.testing import make_package

    storage = tmp_path / "storage"
    with sql_cache(any_url, storage) as cache:
        cache.clear_all()
        for i in range(2600):  # three batches; every project in each of them
            package = make_package(f"mix{i % 37}", f"{i % 11}.{i}", summary=f"s{i}", minutes=(i * 7919) % 5000)
            cache.storage.upload(package, b"x")
        result = cache.reload_from_storage()
        assert result.added == 2600
        by_name: dict[str, list[Package]] = {}
        for package in cache.storage.list():
            by_name.setdefault(package.name, []).append(package)
        expected = [summarize(name, by_name[name]) for name in sorted(by_name)]
        assert cache.summary() == expected
        assert cache.distinct() == sorted(by_name)
        cache.clear_all()
