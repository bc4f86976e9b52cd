"""The change tokens of the SQL backend, on which a graceful reload lives."""

from __future__ import annotations

from pathlib import Path

from pkgcache import Package

from .test_sql_backend import sql_cache


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
