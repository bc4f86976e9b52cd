"""Kit tests: keys and query values (mixed into :class:`CacheConformance`).

Every backend compares keys byte for byte (``Foo-1.0.tar.gz`` and
``foo-1.0.tar.gz`` are two files; ``foo`` and ``foo `` are never one
project), checks limits on values as stored (a name once normalized), and
answers a value that no cache can hold (a NUL, a lone surrogate from a
non-UTF-8 argument) with nothing rather than an error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .. import Cache, InvalidPackage, Package
from ._base import KitBase
from ._files import make_package

__all__ = ["KeysAndValues"]

#: values no stored name, filename or text holds
UNSTORABLE = ["\x00", "mypkg\x00", "\udcff", "mypkg\udcff", "mypkg ", " mypkg", "mypkg-1.0.tar.gz "]


class KeysAndValues(KitBase):
    """Keys compare exactly; limits apply to stored values; odd query values find nothing."""

    def test_name_over_the_limit_once_normalized_is_refused_before_writing(
        self, cache: Cache, storage_dir: Path
    ) -> None:
        """200 ``İ`` are 400 characters once lowercased: refused like any name over 255."""
        with pytest.raises(InvalidPackage, match="once normalized"):
            cache.upload("long-1.0.tar.gz", b"content", name="İ" * 200, version="1.0")
        assert [p for p in storage_dir.rglob("*") if p.is_file()] == []
        assert cache.distinct() == []
        assert cache.fetch("long-1.0.tar.gz") is None

    def test_keys_with_surrounding_spaces_are_refused(self) -> None:
        for name, version, filename in [("foo ", "1.0", "foo-1.0.tar.gz"), ("foo", "1.0", "foo-1.0.tar.gz ")]:
            with pytest.raises(InvalidPackage, match="white space"):
                Package(name, version, filename)

    def test_keys_compare_byte_for_byte(self, cache: Cache) -> None:
        """Case and trailing spaces tell keys apart on every backend (MySQL's default
        collations ignore trailing spaces)."""
        cache.save(make_package("Foo", "1.0", filename="Foo-1.0.tar.gz", summary="upper"))
        cache.save(make_package("foo", "2.0", filename="foo-1.0.tar.gz", summary="lower"))
        upper, lower = cache.fetch("Foo-1.0.tar.gz"), cache.fetch("foo-1.0.tar.gz")
        assert upper is not None and (upper.filename, upper.version) == ("Foo-1.0.tar.gz", "1.0")
        assert lower is not None and (lower.filename, lower.version) == ("foo-1.0.tar.gz", "2.0")
        assert cache.fetch("foo-1.0.tar.gz ") is None
        assert cache.fetch("FOO-1.0.TAR.GZ") is None
        assert cache.all("foo ") == []
        assert sorted(p.filename for p in cache.all("FOO")) == ["Foo-1.0.tar.gz", "foo-1.0.tar.gz"]

    @pytest.mark.parametrize("value", UNSTORABLE)
    def test_values_no_cache_can_hold_find_nothing(self, cache: Cache, value: str) -> None:
        cache.save_many([make_package("mypkg", "1.0"), make_package("other", "1.0", summary="mypkg inside")])
        assert cache.fetch(value) is None
        assert cache.all(value) == []
        assert cache.project_token(value) is None  # an index server asks it for any URL
        if "\x00" in value or "\udcff" in value:
            assert cache.search({"name": [value]}, "or") == []
            assert cache.search({"name": [value], "summary": [value]}, "and") == []
            assert cache.search({"name": [value], "summary": ["inside"]}, "and") == []
            # in "or", the term that cannot match drops out and the others still find
            assert [p.name for p in cache.search({"name": [value, "other"]}, "or")] == ["other"]
