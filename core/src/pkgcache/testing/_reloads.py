"""Kit tests: reloads. Plain and graceful reloads make the cache what the storage
holds, skip what cannot be read, and (where declared) never show an empty cache."""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from .. import Cache, Package, PackageExists
from ._base import KitBase
from ._files import T0, make_package, write_wheel
from ._overlap import Timeline, busy_switching, run_threads

__all__ = ["ReloadContract"]


class ReloadContract(KitBase):
    """Plain and graceful reloads, and the atomic switch a backend declares."""

    # -- storage: upload, delete, reload --------------------------------------------
    def test_upload_writes_storage_and_cache_with_hashes(self, cache: Cache, storage_dir: Path) -> None:
        content = b"not really a wheel, but bytes all the same"
        package = cache.upload("My_Pkg-1.2-py3-none-any.whl", content, summary="Uploaded ✓", requires_python=">=3.9")
        assert (package.name, package.version) == ("my-pkg", "1.2")
        stored = cache.fetch("My_Pkg-1.2-py3-none-any.whl")
        assert stored is not None and stored.to_dict() == package.to_dict()
        import hashlib

        assert stored.data["hash_sha256"] == hashlib.sha256(content).hexdigest()
        assert stored.data["hash_md5"] == hashlib.md5(content).hexdigest()
        assert stored.data["requires_python"] == ">=3.9"
        assert Path(cache.get_url(stored)).read_bytes() == content
        assert Path(cache.get_url(stored)).is_relative_to(storage_dir)

    def test_upload_without_overwrite_refuses_existing(self, cache: Cache) -> None:
        cache.upload("dup-1.0.tar.gz", b"first")
        with pytest.raises(PackageExists, match=r"dup-1\.0\.tar\.gz"):
            cache.upload("dup-1.0.tar.gz", b"second", overwrite=False)
        cache.upload("dup-1.0.tar.gz", b"third", overwrite=True)
        stored = cache.fetch("dup-1.0.tar.gz")
        assert stored is not None
        with cache.storage.open(stored) as handle:
            assert handle.read() == b"third"

    def test_delete_removes_from_storage_and_cache(self, cache: Cache) -> None:
        package = cache.upload("del-1.0.tar.gz", b"x")
        path = Path(cache.get_url(package))
        cache.delete(package)
        assert cache.fetch("del-1.0.tar.gz") is None and not path.exists()
        assert cache.distinct() == []

    def test_reload_replaces_contents_with_storage(self, cache: Cache, storage_dir: Path) -> None:
        listed = self._fill_storage(cache, storage_dir)
        stale = make_package("stale", "1")
        cache.save(stale)
        result = cache.reload_from_storage()
        assert (result.added, result.removed) == (4, 1)
        assert cache.fetch(stale.filename) is None
        assert cache.distinct() == ["flat-one", "nested"]
        for filename, package in listed.items():
            found = cache.fetch(filename)
            assert found is not None and found.to_dict() == package.to_dict()
        wheel = cache.fetch("flat_one-1.0-py3-none-any.whl")
        assert wheel is not None and wheel.data["requires_python"] == ">=3.8"
        # what an index links with: the file's sha256 and its METADATA's (PEP 658), computed at reload
        assert set(wheel.data) == {"requires_python", "hash_sha256", "core_metadata_sha256", "size"}
        assert cache.summary()[0]["summary"] in ("Flat wheel newer", "Flat sdist")

    def test_reload_skips_unreadable_files(self, cache: Cache, storage_dir: Path) -> None:
        write_wheel(storage_dir, "good", "1.0")
        (storage_dir / "notes.txt").write_text("not a package")
        (storage_dir / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip")
        result = cache.reload_from_storage()
        assert cache.distinct() == ["good"]
        assert sorted(Path(s.path).name for s in result.skipped) == ["broken-1.0-py3-none-any.whl", "notes.txt"]

    def test_reload_keep_only_adds(self, cache: Cache, storage_dir: Path) -> None:
        self._fill_storage(cache, storage_dir)
        extra = make_package("extra", "1")
        cache.save(extra)
        cache.reload_from_storage(clear=False)
        assert cache.fetch(extra.filename) is not None
        assert len(cache.distinct()) == 3

    def test_graceful_reload_reconciles(self, cache: Cache, storage_dir: Path) -> None:
        listed = self._fill_storage(cache, storage_dir)
        cache.reload_from_storage()
        gone = cache.fetch("nested-1.0-py3-none-any.whl")
        assert gone is not None
        (storage_dir / "nested" / "1.0" / gone.filename).unlink()
        write_wheel(storage_dir, "fresh", "0.1", summary="New")
        changed = next(p for p in listed.values() if p.filename.endswith(".tar.gz"))
        stale = Package(changed.name, changed.version, changed.filename, T0, "stale summary")
        cache.save(stale)
        result = cache.reload_from_storage(graceful=True)
        assert (result.added, result.removed, result.updated, result.unchanged) == (1, 1, 1, 2)
        assert cache.distinct() == ["flat-one", "fresh"]
        refreshed = cache.fetch(changed.filename)
        assert refreshed is not None and refreshed.to_dict() == changed.to_dict()

    def test_graceful_reload_with_concurrent_writers(self, cache: Cache, storage_dir: Path) -> None:
        """Files uploaded or deleted while a graceful reload runs are neither lost nor resurrected.

        The writer's uploads and deletes must overlap the reloads (at least ten of
        them); the reload is repeated, a bounded number of times, until they did."""
        for i in range(300):
            cache.storage.upload(make_package(f"base{i % 30}", f"1.{i}"), b"x")
        doomed = [cache.upload(f"doomed-{i}.tar.gz", b"d") for i in range(40)]
        uploaded: list[Package] = []
        numbers = itertools.count()
        timeline = Timeline(2)
        reloads = 0

        def reload(done: threading.Event) -> None:
            try:
                with timeline.span(0):
                    cache.reload_from_storage(graceful=True)
            finally:
                done.set()

        def write(done: threading.Event) -> None:
            while not done.is_set():
                i = next(numbers)
                with timeline.span(1):
                    uploaded.append(cache.upload(f"during-{i}.tar.gz", b"u"))
                    if i < len(doomed):
                        cache.delete(doomed[i])

        with busy_switching():
            while reloads < 10 and (reloads == 0 or timeline.overlaps(1, 0) < 10):
                done = threading.Event()
                run_threads(functools.partial(reload, done), functools.partial(write, done))
                reloads += 1
        assert timeline.overlaps(1, 0) >= 10, (
            f"only {timeline.overlaps(1, 0)} writes overlapped {reloads} graceful reloads (10 wanted): "
            "this test proved nothing"
        )
        for package in doomed:
            cache.delete(package)  # the writer may not have reached them all
        in_storage = {p.filename for p in cache.storage.list()}
        in_cache = {p.filename for name in cache.distinct() for p in cache.all(name)}
        assert {p.filename for p in uploaded} <= in_cache
        assert in_cache == in_storage

    def test_atomic_reload_never_shows_an_empty_cache(
        self, cache: Cache, storage_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Readers during a plain reload see every project, never an empty or partial cache.

        The reload's ``_replace_all`` is timed: at least five reads must have run
        while it did, and the reload is repeated (a bounded number of times) until so."""
        if not cache.atomic_reload:
            pytest.skip(
                f"{type(cache).__name__} does not declare atomic_reload = True: a plain reload may show "
                "readers an empty cache (the base class's _replace_all clears, then saves)"
            )
        for i in range(1000):
            cache.storage.upload(make_package(f"proj{i % 100}", f"1.{i}"), b"x")
        cache.reload_from_storage()
        names = cache.distinct()
        reader = self.make_cache(storage_dir) if self.shared_state else cache
        timeline = Timeline(2)
        wrong: list[list[str]] = []
        replace_all = cache._replace_all

        def timed_replace_all(packages: Sequence[Package]) -> None:
            with timeline.span(0):
                replace_all(packages)

        replacing = cache._replacing

        @contextlib.contextmanager
        def timed_replacing() -> Iterator[Callable[[Sequence[Package]], None]]:
            with timeline.span(0), replacing() as add:  # a streaming reload's whole switch
                yield add

        def reload(done: threading.Event) -> None:
            try:
                cache.reload_from_storage()
            finally:
                done.set()

        def read(done: threading.Event) -> None:
            while not done.is_set():
                with timeline.span(1):
                    found = reader.distinct()
                if found != names:
                    wrong.append(found)

        if type(cache)._replacing is Cache._replacing:
            monkeypatch.setattr(cache, "_replace_all", timed_replace_all)
        else:
            monkeypatch.setattr(cache, "_replacing", timed_replacing)
        reloads = 0
        try:
            # switching threads every 10 µs throughout, not only while the contents are
            # replaced: at the default 5 ms, a reader that never waits takes the GIL each
            # time the reload waits for a file, and a 1,000-file listing took a minute
            with busy_switching():
                while reloads < 30 and (reloads < 3 or timeline.overlaps(1, 0) < 5):
                    done = threading.Event()
                    run_threads(functools.partial(reload, done), functools.partial(read, done))
                    reloads += 1
        finally:
            if reader is not cache:
                reader.close()
        during = timeline.overlaps(1, 0)
        assert during >= 5, f"only {during} reads ran while {reloads} reloads replaced the contents (5 wanted)"
        assert not wrong, (
            f"{len(wrong)} of {len(timeline.spans[1])} reads saw {len(wrong[0])} projects instead of {len(names)}"
        )
