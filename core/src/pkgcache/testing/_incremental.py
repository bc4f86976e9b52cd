"""Kit tests: reloads are incremental and exact (mixed into :class:`CacheConformance`).

Proved by counting what the storage is asked, never by timing: a graceful
reload reads only the files whose change token moved, when the backend
stores tokens; and the streaming reloads give the counts, ``skipped`` and
``warnings`` that the full comparison of the listing with the cache gives.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .. import Cache, Package
from ..storage import Entry
from ._base import KitBase
from ._files import make_package, write_wheel
from ._reload_safety import ReloadSafety

__all__ = ["IncrementalReload"]


@contextmanager
def _asked(cache: Cache) -> Iterator[dict[str, list[str]]]:
    """Filenames the storage is asked to read (``read``) and to re-check (``load``)."""
    storage = cache.storage
    asked: dict[str, list[str]] = {"read": [], "load": []}
    read, load = storage.read, storage.load

    def counted_read(entry: Entry) -> Package | None:
        asked["read"].append(entry.filename)
        return read(entry)

    def counted_load(package: Package) -> Package | None:
        asked["load"].append(package.filename)
        return load(package)

    storage.read, storage.load = counted_read, counted_load  # type: ignore[method-assign]
    try:
        yield asked
    finally:
        del storage.read, storage.load


def _contents(cache: Cache) -> dict[str, dict[str, Any]]:
    return {p.filename: p.to_dict() for name in cache.distinct() for p in cache.all(name)}


def _full_comparison(cache: Cache) -> tuple[Any, ...]:
    """What a reload must report, computed as reloads did before they streamed: the
    whole listing against the whole cache."""
    before = {p.filename: p for p in cache._iter_packages()}
    listed = {p.filename: p for p in cache.storage.list()}
    old = [before[f] for f in listed if f in before]
    unchanged = sum(1 for p in old if p.same_as(listed[p.filename]))
    return (
        sum(1 for f in listed if f not in before),
        sum(1 for f in before if f not in listed),
        len(old) - unchanged,
        unchanged,
        sorted(map(str, cache.storage.skipped)),
        sorted(map(str, cache.storage.warnings)),
    )


def _reported(cache: Cache, graceful: bool) -> tuple[Any, ...]:
    r = cache.reload_from_storage(graceful=graceful)
    return r.added, r.removed, r.updated, r.unchanged, sorted(map(str, r.skipped)), sorted(map(str, r.warnings))


def _rewrite_sidecar(path: Path, summary: str) -> None:
    """New metadata, and a new mtime even on a file system with a coarse clock."""
    meta = path.with_name(path.name + ".meta")
    before = meta.stat().st_mtime_ns
    meta.write_text(json.dumps({"summary": summary}), "utf-8")
    os.utime(meta, ns=(before + 10**9, before + 10**9))


class IncrementalReload(KitBase):
    """Change tokens (opt in with ``stores_tokens = True`` on the backend)."""

    def _require_tokens(self, cache: Cache) -> None:
        if not cache.stores_tokens:
            pytest.skip(
                f"{type(cache).__name__} does not declare stores_tokens = True: a graceful reload re-reads every file"
            )

    def test_a_declared_token_store_keeps_tokens(self, cache: Cache) -> None:
        """``stores_tokens = True`` is a promise: the token comes back from ``fetch`` and ``_iter_tokens``."""
        self._require_tokens(cache)
        probe = make_package("token-probe", "1.0")
        probe.token = "probe:1"
        cache.save(probe)
        found = cache.fetch(probe.filename)
        assert found is not None
        assert found.token == "probe:1"
        assert dict(cache._iter_tokens())[probe.filename] == "probe:1"

    def _storage_of(self, cache: Cache, n: int) -> list[Package]:
        packages = [make_package(f"inc{i % 7}", f"1.{i}", summary=f"file {i}", minutes=i) for i in range(n)]
        for package in packages:
            cache.storage.upload(package, b"x")
        return packages

    def test_graceful_reload_reads_only_what_changed(self, cache: Cache, storage_dir: Path) -> None:
        self._require_tokens(cache)
        n = 40
        packages = self._storage_of(cache, n)
        assert cache.reload_from_storage().added == n
        assert all(token is not None for _, token in cache._iter_tokens())
        with _asked(cache) as asked:
            result = cache.reload_from_storage(graceful=True)
        assert (result.added, result.removed, result.updated, result.unchanged) == (0, 0, 0, n)
        assert asked == {"read": [], "load": []}

        changed, gone = packages[:3], packages[3:5]
        for i, package in enumerate(changed):
            _rewrite_sidecar(storage_dir / package.name / package.version / package.filename, f"changed {i}")
        for package in gone:
            cache.storage.delete(package)
        new = {write_wheel(storage_dir, f"new{i}", "1.0").name for i in range(2)}
        with _asked(cache) as asked:
            result = cache.reload_from_storage(graceful=True)
        assert (result.added, result.removed, result.updated, result.unchanged) == (2, 2, 3, n - 5)
        assert sorted(asked["read"]) == sorted({p.filename for p in changed} | new)
        assert set(asked["load"]) <= {p.filename for p in changed + gone} | new
        assert {p.filename for p in gone} <= set(asked["load"])  # a gone file is re-checked before removal
        assert cache.fetch(changed[0].filename).summary == "changed 0"  # type: ignore[union-attr]

        incremental = _contents(cache)
        assert _reported(cache, graceful=False)[:4] == (0, 0, 0, n)
        assert _contents(cache) == incremental
        with _asked(cache) as asked:
            assert _reported(cache, graceful=True)[:4] == (0, 0, 0, n)
        assert asked["read"] == []

    def test_a_touched_file_is_read_once_and_counted_unchanged(self, cache: Cache, storage_dir: Path) -> None:
        self._require_tokens(cache)
        packages = self._storage_of(cache, 10)
        cache.reload_from_storage()
        path = storage_dir / packages[0].name / packages[0].version / packages[0].filename
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))  # same times: token unchanged
        meta = path.with_name(path.name + ".meta")
        os.utime(meta, ns=(meta.stat().st_atime_ns, meta.stat().st_mtime_ns + 10**9))  # only the sidecar's time
        for expected_reads in ([packages[0].filename], []):
            with _asked(cache) as asked:
                result = cache.reload_from_storage(graceful=True)
            assert (result.added, result.removed, result.updated, result.unchanged) == (0, 0, 0, 10)
            assert asked["read"] == expected_reads

    def test_files_uploaded_through_the_cache_are_not_read_again(self, cache: Cache) -> None:
        self._require_tokens(cache)
        for i in range(5):
            cache.upload(f"up-1.{i}.tar.gz", b"content %d" % i, summary=f"up {i}")
        with _asked(cache) as asked:
            result = cache.reload_from_storage(graceful=True)
        assert (result.added, result.removed, result.updated, result.unchanged) == (0, 0, 0, 5)
        assert asked["read"] == []

    @pytest.mark.parametrize("graceful", [False, True], ids=["plain", "graceful"])
    def test_reload_reports_what_the_full_comparison_finds(
        self, cache: Cache, storage_dir: Path, graceful: bool
    ) -> None:
        """Counts, skipped and warnings on a storage with bad files, from an empty
        cache, an identical one and one that differs in every way."""
        good, _, _ = ReloadSafety()._bad_among_good(storage_dir)
        expected = _full_comparison(cache)
        assert _reported(cache, graceful) == expected
        assert expected[0] == len(good) and expected[4] and expected[5]
        expected = _full_comparison(cache)
        assert _reported(cache, graceful) == expected
        assert expected[3] == len(good)

        stale = cache.fetch("laid_out-2.0.tar.gz")
        assert stale is not None
        cache.save(Package(stale.name, stale.version, stale.filename, stale.last_modified, "stale summary"))
        cache.save(make_package("only-in-cache", "1.0"))
        _rewrite_sidecar(storage_dir / "nul" / "1.0" / "nul-1.0.tar.gz", "changed on disk")
        write_wheel(storage_dir, "late", "1.0")
        expected = _full_comparison(cache)
        assert expected[:4] == (1, 1, 2, len(good) - 2)
        assert _reported(cache, graceful) == expected
