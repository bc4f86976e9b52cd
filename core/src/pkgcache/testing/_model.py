"""Kit tests: the model. Every field round-trips, writes replace by filename, names are
normalized and ``all()`` keeps PEP 440 order."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

from packaging.version import InvalidVersion, Version

from .. import Cache, Package
from ._base import KitBase
from ._files import T0, make_package

__all__ = ["ModelContract"]


def _pep440_order(packages: list[Package]) -> list[str]:
    """Filenames in contract order, computed with packaging directly (not our sort key)."""

    def key(p: Package) -> tuple[int, Any]:
        try:
            return (1, Version(p.version))
        except InvalidVersion:
            return (0, p.version)

    by_filename = sorted(packages, key=lambda p: p.filename)
    return [p.filename for p in sorted(by_filename, key=key, reverse=True)]


def _dicts(packages: list[Package]) -> list[dict[str, Any]]:
    return [p.to_dict() for p in packages]


class ModelContract(KitBase):
    """The ``Package`` model on the backend: round trips, writes, names and order."""

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
