"""Kit tests: change markers (mixed into :class:`CacheConformance`).

An index server answers ``If-None-Match`` and keys its page cache with
``project_token`` and ``index_token``: a marker that did not change after a
write would serve a stale page, on every server of a shared cache.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .. import Cache
from ._base import KitBase
from ._files import make_package, write_wheel

__all__ = ["ChangeMarkers"]


class ChangeMarkers(KitBase):
    """Every write to a project changes its marker; a project appearing or vanishing
    changes the index marker; reading changes nothing."""

    def test_project_token_changes_with_every_write(self, cache: Cache) -> None:
        assert cache.project_token("proj") is None
        cache.save(make_package("proj", "1.0", hash_sha256="a" * 64))
        first = cache.project_token("proj")
        assert first is not None and cache.project_token("Proj") == first == cache.project_token("proj")
        seen = {first}
        writes: list[Callable[[], None]] = [
            lambda: cache.save(make_package("proj", "2.0")),  # another file
            lambda: cache.save(make_package("proj", "1.0", hash_sha256="b" * 64)),  # re-upload, the same time
            lambda: cache.clear(make_package("proj", "2.0")),  # a delete
            lambda: cache.save_many([make_package("proj", "3.0"), make_package("other", "1.0")]),
        ]
        for write in writes:
            write()
            token = cache.project_token("proj")
            assert token is not None and token not in seen, "a write left the project's marker as it was"
            seen.add(token)
        cache.clear(make_package("proj", "1.0"))
        cache.clear(make_package("proj", "3.0"))
        assert cache.project_token("proj") is None

    def test_index_token_changes_when_a_project_appears_or_vanishes(self, cache: Cache) -> None:
        empty = cache.index_token()
        assert cache.index_token() == empty
        cache.save(make_package("alpha", "1.0"))
        one = cache.index_token()
        assert one != empty
        cache.save(make_package("beta", "1.0"))
        two = cache.index_token()
        assert two not in (empty, one)
        cache.clear(make_package("alpha", "1.0"))
        assert cache.index_token() not in (one, two)

    def test_a_plain_reload_changes_the_markers_of_what_it_changed(self, cache: Cache, storage_dir: Path) -> None:
        write_wheel(storage_dir, "reloaded", "1.0", summary="first")
        cache.reload_from_storage()
        before, index_before = cache.project_token("reloaded"), cache.index_token()
        write_wheel(storage_dir, "reloaded", "1.0", summary="second")  # same file name, new contents
        write_wheel(storage_dir, "newcomer", "1.0")
        cache.reload_from_storage()
        after = cache.project_token("reloaded")
        assert before is not None and after is not None and after != before
        assert cache.index_token() != index_before
