"""Storage.recheck: how a graceful reload re-asks the storage about many files at once.

A graceful reload re-checks the files it wrote (and those it is about to
remove, and those it removed) against concurrent uploads and deletes. It asks
:meth:`Storage.recheck` a batch at a time, not :meth:`Storage.load` file by
file, so that an object store can answer from a few list requests. Checked
here: the default still loads each file (so a storage written before
``recheck`` existed keeps working); the reload asks through ``recheck``
only; a delete and a rewrite that pass between the reload's read and its
write are put right, by the default and by a ``recheck`` that answers
unchanged tokens without reading (as the file storage can with ``stat``),
and the control run without a re-check shows that the race was real; and
the whole conformance kit passes over such a storage.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pkgcache import Cache, Package
from pkgcache.file_storage import META_SUFFIX, FileStorage
from pkgcache.memory import MemoryCache
from pkgcache.storage import Entry, Storage
from pkgcache.testing import CacheConformance, make_package, write_wheel

#: the file storage answers ``recheck`` with two ``stat`` calls per file whose token is
#: known, reading (``load``) only files whose token moved or that are absent
StatRecheck = FileStorage


class Counting(StatRecheck):
    """Records every ``recheck`` (the filenames asked) and every ``load``."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.rechecks: builtins.list[builtins.list[str]] = []
        self.loads: builtins.list[str] = []
        self.default = False  # True: the base class's recheck, one load per file

    def recheck(self, packages: Sequence[Package]) -> builtins.list[Package | None]:
        self.rechecks.append([p.filename for p in packages])
        return Storage.recheck(self, packages) if self.default else super().recheck(packages)

    def load(self, package: Package) -> Package | None:
        self.loads.append(package.filename)
        return super().load(package)


def memory_cache(storage: FileStorage) -> MemoryCache:
    return MemoryCache(MemoryCache.Settings(), storage)


def rewrite_sidecar(root: Path, package: Package, summary: str) -> None:
    """New metadata and a later mtime, so the token moves even on a coarse clock."""
    meta = root / package.name / package.version / (package.filename + META_SUFFIX)
    before = meta.stat().st_mtime_ns
    meta.write_text(json.dumps({"summary": summary}), "utf-8")
    os.utime(meta, ns=(before + 10**9, before + 10**9))


def test_the_default_loads_each_package_in_order(tmp_path: Path) -> None:
    storage = Counting(FileStorage.Settings(dir=tmp_path))
    storage.default = True
    kept, gone = (
        make_package("rc", "1.0", hash_sha256=hashlib.sha256(b"a").hexdigest(), size=1),
        make_package("rc", "2.0"),
    )
    storage.upload(kept, b"a")
    answers = storage.recheck([gone, kept, kept])
    assert answers[0] is None and answers[1] is not None and answers[1].same_as(kept)
    assert storage.loads == [gone.filename, kept.filename, kept.filename]


def test_a_graceful_reload_asks_through_recheck_a_batch_at_a_time(tmp_path: Path) -> None:
    storage = Counting(FileStorage.Settings(dir=tmp_path))
    cache = memory_cache(storage)
    packages = [make_package("rb", f"1.{i}", summary=f"file {i}", minutes=i) for i in range(40)]
    for package in packages:
        storage.upload(package, b"x")
    assert cache.reload_from_storage().added == 40
    rewritten, deleted = packages[:3], packages[3:5]
    for package in rewritten:
        rewrite_sidecar(tmp_path, package, "rewritten")
    for package in deleted:
        storage.delete(package)
    new = sorted(write_wheel(tmp_path, f"rbnew{i}", "1.0").name for i in range(2))
    storage.rechecks.clear()
    storage.loads.clear()
    result = cache.reload_from_storage(graceful=True)
    assert (result.added, result.removed, result.updated, result.unchanged) == (2, 2, 3, 35)
    gone = sorted(p.filename for p in deleted)
    assert [sorted(asked) for asked in storage.rechecks] == [
        sorted([p.filename for p in rewritten] + new),  # after writing
        gone,  # before removing: still absent?
        gone,  # after removing: back meanwhile?
    ]
    assert sorted(storage.loads) == sorted(gone + gone)  # only the absent are read: the written kept their token


@pytest.mark.parametrize("recheck", ["default", "stat", "none"], ids=["default", "stat", "control-without-recheck"])
def test_a_delete_and_a_rewrite_between_read_and_write_are_put_right(tmp_path: Path, recheck: str) -> None:
    """Another writer deletes one file and rewrites another after the reload read them and
    before it writes them (storage first, then the cache, as ``Cache.delete`` and
    ``Cache.upload`` do). Without a re-check (the control) the reload's stale writes win."""
    storage = Counting(FileStorage.Settings(dir=tmp_path))
    storage.default = recheck == "default"
    cache = memory_cache(storage)
    packages = [make_package("race", f"1.{i}", minutes=i) for i in range(6)]
    for package in packages:
        storage.upload(package, b"x")
    cache.reload_from_storage()
    for package in packages[:3]:
        rewrite_sidecar(tmp_path, package, "changed")
    read_many, raced = storage.read_many, []

    def read_then_race(entries: Any) -> Iterator[Package]:
        fresh = list(read_many(entries))
        if fresh and not raced:
            doomed = cache.fetch(packages[0].filename)
            assert doomed is not None
            cache.delete(doomed)
            cache.upload(packages[1].filename, b"new bytes", name="race", version="1.1", summary="third")
            raced.extend(p.filename for p in fresh)
        yield from fresh

    storage.read_many = read_then_race  # type: ignore[method-assign]
    if recheck == "none":
        storage.recheck = list  # type: ignore[method-assign,assignment]
    cache.reload_from_storage(graceful=True)
    assert sorted(raced) == sorted(p.filename for p in packages[:3])
    assert cache.fetch(packages[2].filename).summary == "changed"  # type: ignore[union-attr]
    if recheck == "none":
        assert cache.fetch(packages[0].filename) is not None  # resurrected
        assert cache.fetch(packages[1].filename).summary == "changed"  # type: ignore[union-attr]
    else:
        assert cache.fetch(packages[0].filename) is None
        assert cache.fetch(packages[1].filename).summary == "third"  # type: ignore[union-attr]
        assert (
            sorted(cache.storage.load(p).filename for p in packages[1:])
            == [  # type: ignore[union-attr]
                p.filename for p in packages[1:]
            ]
        )


def test_a_recheck_that_does_not_answer_each_package_is_refused(tmp_path: Path) -> None:
    class Short(FileStorage):
        def recheck(self, packages: Sequence[Package]) -> builtins.list[Package | None]:
            return []

    storage = Short(FileStorage.Settings(dir=tmp_path))
    cache = memory_cache(storage)
    storage.upload(make_package("short", "1.0"), b"x")
    with pytest.raises(TypeError, match=r"Short\.recheck\(\) gave 0 answers for 1 packages: it must return one"):
        cache.reload_from_storage(graceful=True)


def test_an_entry_read_without_token_is_read_again(tmp_path: Path) -> None:
    """A package whose token is unknown cannot be answered by ``stat``: it is loaded."""
    storage = Counting(FileStorage.Settings(dir=tmp_path))
    package = make_package("nt", "1.0")
    storage.upload(package, b"x")
    [entry] = storage.scan()
    read = storage.read(Entry(entry.filename, entry.token, entry.path))
    assert read is not None and read.token is not None
    assert storage.recheck([read]) == [read] and storage.loads == []
    read.token = None
    [answer] = storage.recheck([read])
    assert answer is not None and answer is not read and storage.loads == [package.filename]


class TestConformanceOverStatRecheck(CacheConformance):
    """The whole kit (reload safety, incremental reloads) with a storage whose ``recheck``
    answers unchanged tokens without reading."""

    shared_state = False

    def make_cache(self, storage_dir: Path) -> Cache:
        return memory_cache(StatRecheck(FileStorage.Settings(dir=storage_dir)))
