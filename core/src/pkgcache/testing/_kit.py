"""The conformance kit: the whole cache contract as one pytest base class.

A backend author subclasses :class:`CacheConformance` in a test module and
says how to configure the backend::

    from pkgcache.testing import CacheConformance

    class TestMyBackend(CacheConformance):
        def cache_config(self, storage_dir):
            return {"pypi.db": "mybackend", "db.path": str(storage_dir.parent / "db")}

Every test gets a fresh, empty cache on a real ``file`` storage in a
temporary folder. A backend that lacks a capability sets the matching flag
to False and the tests that need it are skipped with the reason; a server
that is absent is best handled by calling ``pytest.skip`` in
``cache_config``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest
from packaging.version import InvalidVersion, Version

from .. import Cache, Package, PackageExists, load_cache
from ._files import T0, make_package, write_sdist, write_wheel
from ._identity import FilenameIdentity
from ._incremental import IncrementalReload
from ._markers import ChangeMarkers
from ._overlap import ReloadGate, Timeline, assert_one_reloaded_while_others_called, busy_switching, run_threads
from ._reload_safety import ReloadSafety
from ._stateful import run_stateful_comparison
from ._values import KeysAndValues
from ._writers import expected_rows, run_two_writers

__all__ = ["CacheConformance"]


def _pep440_order(packages: list[Package]) -> list[str]:
    """Filenames in contract order, computed with packaging directly (not our sort key)."""

    def key(p: Package) -> tuple[int, Any]:
        try:
            return (1, Version(p.version))
        except InvalidVersion:
            return (0, p.version)

    by_filename = sorted(packages, key=lambda p: p.filename)
    return [p.filename for p in sorted(by_filename, key=key, reverse=True)]


def _call_and_record(gate: ReloadGate, runs: list[tuple[bool, float, float]], cache: Cache) -> None:
    runs.append(gate.reload_if_needed(cache))


def _dicts(packages: list[Package]) -> list[dict[str, Any]]:
    return [p.to_dict() for p in packages]


class CacheConformance(ReloadSafety, IncrementalReload, KeysAndValues, FilenameIdentity, ChangeMarkers):
    """Subclass and implement :meth:`cache_config`; every ``test_*`` is a contract line."""

    #: caches built by ``make_cache`` share their data (False for in-process backends)
    shared_state: ClassVar[bool] = True
    #: files in the "project with thousands of versions" test
    big_project_files: ClassVar[int] = 3000
    #: overlapping operations of the two writers of the concurrent-writers test; each
    #: overlap is a chance to catch a race, so lower it only for a slow test server
    writer_overlaps: ClassVar[int] = 400
    #: hypothesis examples and steps of the stateful comparison with ``memory``: long
    #: sequences reach the states where bugs hide (a project emptied and refilled, a
    #: replaced file moving the summary), so a slow server lowers examples, not steps
    stateful_examples: ClassVar[int] = 15
    stateful_steps: ClassVar[int] = 50

    def cache_config(self, storage_dir: Path) -> dict[str, Any]:
        """Config keys for a cache of this backend (``storage.dir`` is added by the kit)."""
        raise NotImplementedError("subclasses return the backend's config keys, e.g. {'pypi.db': 'sql', ...}")

    # -- fixtures ------------------------------------------------------------
    @pytest.fixture
    def storage_dir(self, tmp_path: Path) -> Path:
        path = tmp_path / "storage"
        path.mkdir()
        return path

    def make_cache(self, storage_dir: Path) -> Cache:
        config = {"pypi.storage": "file", **self.cache_config(storage_dir), "storage.dir": str(storage_dir)}
        return load_cache(config, environ={})

    @pytest.fixture
    def cache(self, storage_dir: Path) -> Iterator[Cache]:
        cache = self.make_cache(storage_dir)
        cache.clear_all()
        try:
            yield cache
        finally:
            cache.clear_all()
            cache.close()

    # -- model round trip ------------------------------------------------------
    def test_save_then_fetch_round_trips_every_field(self, cache: Cache) -> None:
        """fetch returns what was saved: microseconds, Unicode, emoji, nested data."""
        package = make_package(
            "Some_Project.X",
            "2.0.post1",
            summary="Ünïcode sümmary with emoji 🐍📦 and 4-byte \U0001d518",
            requires_python=">=3.10",
            uploader="émile",
            hash_sha256="ab" * 32,
            extra={"nested": [1, 2, {"k": "v"}]},
        )
        cache.save(package)
        found = cache.fetch(package.filename)
        assert found is not None
        assert found.to_dict() == package.to_dict()
        assert found.name == "some-project-x"
        assert found.last_modified.microsecond == 123456
        assert found.last_modified.tzinfo is not None and found.last_modified.utcoffset() == timedelta(0)

    def test_fetch_missing_returns_none(self, cache: Cache) -> None:
        assert cache.fetch("nope-1.0.tar.gz") is None

    def test_timestamps_are_aware_utc_to_the_microsecond(self, cache: Cache) -> None:
        """A naive time is taken as UTC; another offset is converted to UTC."""
        plus_two = timezone(timedelta(hours=2))
        cache.save(Package("a", "1", "a-1.tar.gz", datetime(2020, 1, 2, 3, 4, 5, 6)))
        cache.save(Package("a", "2", "a-2.tar.gz", datetime(2020, 1, 2, 5, 4, 5, 999999, tzinfo=plus_two)))
        first, second = cache.fetch("a-1.tar.gz"), cache.fetch("a-2.tar.gz")
        assert first is not None and second is not None
        assert first.last_modified == datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
        assert second.last_modified == datetime(2020, 1, 2, 3, 4, 5, 999999, tzinfo=timezone.utc)
        assert second.last_modified.utcoffset() == timedelta(0)

    def test_empty_and_missing_summaries_are_none(self, cache: Cache) -> None:
        cache.save_many([make_package("e", "1", summary=""), make_package("e", "2", summary=None)])
        assert [p.summary for p in cache.all("e")] == [None, None]
        assert cache.summary() == [{"name": "e", "summary": None, "last_modified": T0}]

    def test_long_values_round_trip(self, cache: Cache) -> None:
        """Filenames up to 255 characters, long versions, summaries of any length."""
        version = "1." + ".".join(str(i) for i in range(60))
        filename = ("x" * (255 - len("-1.0.tar.gz"))) + "-1.0.tar.gz"
        summary = "long summary ✓ " * 2000
        cache.save_many([make_package("x", "1.0", filename=filename, summary=summary), make_package("x", version)])
        found = cache.fetch(filename)
        assert found is not None and found.summary == summary and len(found.filename) == 255
        assert [p.version for p in cache.all("x")] == [version, "1.0"]

    # -- writes --------------------------------------------------------------
    def test_save_replaces_by_filename(self, cache: Cache) -> None:
        cache.save(make_package("r", "1.0", summary="old"))
        cache.save(make_package("r", "1.0", summary="new", minutes=5))
        assert _dicts(cache.all("r")) == _dicts([make_package("r", "1.0", summary="new", minutes=5)])

    def test_save_many_saves_everything(self, cache: Cache) -> None:
        packages = [make_package(f"p{i % 7}", f"1.{i}") for i in range(100)]
        cache.save_many(packages)
        assert cache.distinct() == sorted({p.name for p in packages})
        assert sum(len(cache.all(n)) for n in cache.distinct()) == 100
        assert all(cache.fetch(p.filename) is not None for p in packages)

    def test_clear_removes_one_and_absent_is_no_error(self, cache: Cache) -> None:
        keep, drop = make_package("c", "1"), make_package("c", "2")
        cache.save_many([keep, drop])
        cache.clear(drop)
        cache.clear(drop)
        cache.clear(make_package("never-saved", "1"))
        assert [p.filename for p in cache.all("c")] == [keep.filename]
        assert cache.fetch(drop.filename) is None

    def test_project_with_no_files_left_vanishes(self, cache: Cache) -> None:
        only, other = make_package("gone", "1"), make_package("stays", "1")
        cache.save_many([only, other])
        cache.clear(only)
        assert cache.distinct() == ["stays"]
        assert [row["name"] for row in cache.summary()] == ["stays"]
        assert cache.all("gone") == []
        assert cache.search({"name": ["gone"]}, "or") == []

    def test_clear_all_empties(self, cache: Cache) -> None:
        cache.save_many([make_package(f"p{i}", "1") for i in range(10)])
        cache.clear_all()
        assert cache.distinct() == [] and cache.summary() == []

    # -- names and ordering ------------------------------------------------------
    def test_names_are_normalized(self, cache: Cache) -> None:
        """PEP 503: Foo_Bar.baz, foo-bar-baz and FOO__BAR--BAZ are one project."""
        cache.save(make_package("Foo_Bar.baz", "1", filename="f1.tar.gz"))
        cache.save(make_package("FOO__BAR--BAZ", "2", filename="f2.tar.gz"))
        assert cache.distinct() == ["foo-bar-baz"]
        for query in ("foo-bar-baz", "Foo_Bar.baz", "FOO.BAR.BAZ"):
            assert [p.filename for p in cache.all(query)] == ["f2.tar.gz", "f1.tar.gz"]

    def test_all_orders_by_pep440_with_invalid_versions_lowest(self, cache: Cache) -> None:
        versions = [
            "1.0", "1.0.0.0", "1.0.post1", "1.0a1", "1.0b2", "1.0rc1", "1.0.dev3", "1.0a1.dev1",
            "1.0+local.7", "1.0+abc", "1.0+abc.1", "2!0.1", "0.9", "1.10", "1.9", "10.0",
            "not-a-version", "banana", "1.0-foo-bar", "2024.01.15", "1.0.post1.dev2",
            "9" + "0" * 25, "1" + "0" * 26, "1.0.post" + "9" * 30, "1.0.post1" + "0" * 30,
        ]  # fmt: skip
        packages = [make_package("o", v, filename=f"o-{i}-{v}.tar.gz") for i, v in enumerate(versions)]
        random.Random(4).shuffle(packages)
        cache.save_many(packages)
        assert [p.filename for p in cache.all("o")] == _pep440_order(packages)

    def test_files_of_one_version_are_kept_apart_by_filename(self, cache: Cache) -> None:
        """An sdist and wheels for several platforms: separate entries, ties by filename."""
        tags = ["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-win_amd64", "cp312-cp312-macosx_11_0_arm64"]
        files = [make_package("multi", "1.0", filename="multi-1.0.tar.gz")]
        files += [make_package("multi", "1.0", filename=f"multi-1.0-{t}.whl") for t in tags]
        files.append(make_package("multi", "0.9", filename="multi-0.9.tar.gz"))
        cache.save_many(list(reversed(files)))
        got = [p.filename for p in cache.all("multi")]
        assert got == [*sorted(f.filename for f in files if f.version == "1.0"), "multi-0.9.tar.gz"]
        cache.clear(files[1])
        assert files[1].filename not in [p.filename for p in cache.all("multi")]
        assert len(cache.all("multi")) == 4

    def test_project_with_thousands_of_versions(self, cache: Cache) -> None:
        n = self.big_project_files
        packages = [make_package("big", f"{i // 100}.{i % 100}.{i % 7}", filename=f"big-{i}.tar.gz") for i in range(n)]
        cache.save_many(packages)
        assert [p.filename for p in cache.all("big")] == _pep440_order(packages)
        assert cache.summary()[0]["summary"] == "A summary"

    def test_distinct_is_sorted(self, cache: Cache) -> None:
        names = ["zeta", "Alpha", "mid_dle", "beta", "ünïcode"]
        cache.save_many([make_package(n, "1") for n in names])
        assert cache.distinct() == sorted(Package(n, "1", "x").name for n in names)

    # -- summary -------------------------------------------------------------
    def test_summary_uses_highest_version_and_newest_time(self, cache: Cache) -> None:
        """summary: that of the highest version; last_modified: the newest file's."""
        cache.save_many(
            [
                make_package("s", "2.0", summary="two", minutes=1),
                make_package("s", "1.0", summary="one", minutes=50),  # newest, but older version
                make_package("s", "2.0rc1", summary="rc", minutes=2),
                make_package("t", "1.0", summary=None, minutes=3),
                make_package("t", "0.1", summary="old but not empty", minutes=1),
            ]
        )
        assert cache.summary() == [
            {"name": "s", "summary": "two", "last_modified": T0 + timedelta(minutes=50)},
            {"name": "t", "summary": None, "last_modified": T0 + timedelta(minutes=3)},
        ]

    def test_summary_stays_right_after_clear(self, cache: Cache) -> None:
        high, newest, low = (
            make_package("k", "3.0", summary="three", minutes=1),
            make_package("k", "2.0", summary="two", minutes=9),
            make_package("k", "1.0", summary="one", minutes=2),
        )
        cache.save_many([high, newest, low])
        cache.clear(high)
        assert cache.summary() == [{"name": "k", "summary": "two", "last_modified": T0 + timedelta(minutes=9)}]
        cache.clear(newest)
        assert cache.summary() == [{"name": "k", "summary": "one", "last_modified": T0 + timedelta(minutes=2)}]

    # -- search --------------------------------------------------------------
    def _search_fixture(self, cache: Cache) -> None:
        cache.save_many(
            [
                make_package("alpha-tools", "1.0", summary="Tools for ALPHA work"),
                make_package("alpha-tools", "2.0", summary="Rewritten tools"),
                make_package("beta", "1.0", summary="Ünïcode handling"),
                make_package("percent", "1.0", summary="100% literal_under*star\\slash"),
                make_package("percent-not", "1.0", summary="100 percent, literal under star slash"),
            ]
        )

    def test_search_is_case_insensitive_with_unicode_folding(self, cache: Cache) -> None:
        self._search_fixture(cache)
        assert [p.name for p in cache.search({"summary": ["ünïcode"]}, "or")] == ["beta"]
        assert [p.name for p in cache.search({"summary": ["ÜNÏCODE"]}, "or")] == ["beta"]
        assert [p.name for p in cache.search({"name": ["ALPHA"]}, "or")] == ["alpha-tools"]

    def test_search_matches_names_by_their_casefold(self, cache: Cache) -> None:
        """``STRASSE`` and ``ss`` find ``straße``: names are casefolded like the terms and summaries."""
        cache.save_many([make_package("straße", "1.0", summary=None), make_package("strand", "1.0", summary=None)])
        for term in ("STRASSE", "ss", "straße", "STRAẞE"):
            assert [p.name for p in cache.search({"name": [term]}, "or")] == ["straße"], term

    def test_search_takes_wildcard_characters_literally(self, cache: Cache) -> None:
        self._search_fixture(cache)
        for term in ("100%", "%", "literal_under", "_", "*star", "*", "\\slash", "\\"):
            assert [p.name for p in cache.search({"summary": [term]}, "or")] == ["percent"], term
        assert cache.search({"name": ["%"]}, "or") == []
        assert cache.search({"name": ["_"]}, "or") == []

    def test_search_returns_highest_matching_version_per_project(self, cache: Cache) -> None:
        self._search_fixture(cache)
        assert [(p.name, p.version) for p in cache.search({"summary": ["tools"]}, "or")] == [("alpha-tools", "2.0")]
        assert [(p.name, p.version) for p in cache.search({"summary": ["alpha"]}, "or")] == [("alpha-tools", "1.0")]

    def test_search_picks_the_first_file_of_the_highest_version(self, cache: Cache) -> None:
        """Among matching files of one highest version, the one first in ``all()`` order:
        the smallest filename."""
        cache.save_many(
            [
                make_package("tie", "1.0", filename="tie-1.0.tar.gz", summary="sdist"),
                make_package("tie", "1.0", filename="tie-1.0-py3-none-any.whl", summary="wheel"),
                make_package("tie", "0.9", filename="tie-0.9-a.whl", summary="older"),
            ]
        )
        found = cache.search({"name": ["tie"]}, "or")
        assert [p.filename for p in found] == [cache.all("tie")[0].filename] == ["tie-1.0-py3-none-any.whl"]

    def test_search_and_or(self, cache: Cache) -> None:
        self._search_fixture(cache)
        both = {"name": ["alpha"], "summary": ["handling"]}
        assert cache.search(both, "and") == []
        assert [p.name for p in cache.search(both, "or")] == ["alpha-tools", "beta"]
        assert [p.name for p in cache.search({"name": ["perc", "not"]}, "and")] == ["percent-not"]
        assert [p.name for p in cache.search({"name": ["beta"], "summary": ["handling"]}, "and")] == ["beta"]

    def test_search_rejects_bad_arguments(self, cache: Cache) -> None:
        with pytest.raises(ValueError, match="query_type"):
            cache.search({"name": ["a"]}, "xor")
        with pytest.raises(ValueError, match="criteria"):
            cache.search({"title": ["a"]}, "or")

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

    def _fill_storage(self, cache: Cache, storage_dir: Path) -> dict[str, Package]:
        write_wheel(storage_dir, "flat-one", "1.0", summary="Flat wheel ✓", requires_python=">=3.8")
        write_wheel(storage_dir, "flat-one", "1.1", summary="Flat wheel newer", tag="cp311-cp311-linux_x86_64")
        write_sdist(storage_dir, "flat-one", "1.1", summary="Flat sdist")
        write_wheel(storage_dir / "nested" / "1.0", "nested", "1.0", summary="In pypicloud layout")
        return {p.filename: p for p in cache.storage.list()}

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

    def test_reload_if_needed_fills_once(self, cache: Cache, storage_dir: Path) -> None:
        self._fill_storage(cache, storage_dir)
        first = cache.reload_if_needed()
        assert first is not None and first.added == 4
        assert cache.reload_if_needed() is None

    def test_reload_if_needed_from_several_threads_fills_once(
        self, cache: Cache, storage_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Exactly one of four threads reloads, while the others' calls are under way
        (made so by a :class:`ReloadGate`, not left to the scheduler)."""
        self._fill_storage(cache, storage_dir)
        caches = [self.make_cache(storage_dir) if self.shared_state else cache for _ in range(4)]
        try:
            for _run in range(3):
                cache.clear_all()
                gate = ReloadGate(len(caches))
                for each in dict.fromkeys(caches):  # each distinct cache once
                    monkeypatch.setattr(each, "reload_from_storage", gate.held(each.reload_from_storage))
                runs: list[tuple[bool, float, float]] = []
                call = functools.partial(_call_and_record, gate, runs)
                with busy_switching():
                    run_threads(*(functools.partial(call, c) for c in caches))
                monkeypatch.undo()
                assert_one_reloaded_while_others_called(runs)
                assert len(cache.distinct()) == 2
        finally:
            for c in caches:
                if c is not cache:
                    c.close()

    # -- concurrent writers --------------------------------------------------------
    def test_concurrent_writers_keep_project_rows_right(self, cache: Cache, storage_dir: Path) -> None:
        """Two caches on one database write the same projects at once (save, save_many,
        clear, upload, delete); after every round, a project is in ``distinct()`` iff it
        has files, and its ``summary()`` row follows the rule computed from ``all()``.

        With ``shared_state = False`` the two writers share one cache object, so the
        backend is still held to it between threads."""
        other = self.make_cache(storage_dir) if self.shared_state else cache

        def check(round_number: int) -> None:
            names, rows = expected_rows(cache)
            distinct = cache.distinct()
            assert distinct == names, f"round {round_number}: distinct() {distinct} but projects with files {names}"
            summary = cache.summary()
            assert summary == rows, f"round {round_number}: summary() differs from the rule computed from all()"

        try:
            run_two_writers(cache, other, check, self.writer_overlaps)
        finally:
            if other is not cache:
                other.close()

    # -- health and lifetime ------------------------------------------------------
    def test_check_health_ok(self, cache: Cache) -> None:
        ok, message = cache.check_health()
        assert ok is True and isinstance(message, str)

    def test_usable_as_context_manager(self, storage_dir: Path) -> None:
        """``with`` gives the cache itself and closes it on the way out."""
        made = self.make_cache(storage_dir)
        with made as cache:
            assert cache is made
            cache.save(make_package("ctx", "1"))
            assert cache.fetch(make_package("ctx", "1").filename) is not None
            cache.clear_all()

    # -- the reference comparison ------------------------------------------------------
    def test_stateful_matches_memory(self, cache: Cache) -> None:
        """Random operation sequences give the same answers here and on ``memory``."""
        run_stateful_comparison(cache, examples=self.stateful_examples, steps=self.stateful_steps)
