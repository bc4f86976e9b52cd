"""The kit's fixtures and knobs, shared by every contract class."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from .. import Cache, Package, load_cache
from ._files import write_sdist, write_wheel

__all__ = ["KitBase"]


class KitBase:
    """Implement :meth:`cache_config`; the contract classes bring the tests."""

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

    def _fill_storage(self, cache: Cache, storage_dir: Path) -> dict[str, Package]:
        write_wheel(storage_dir, "flat-one", "1.0", summary="Flat wheel ✓", requires_python=">=3.8")
        write_wheel(storage_dir, "flat-one", "1.1", summary="Flat wheel newer", tag="cp311-cp311-linux_x86_64")
        write_sdist(storage_dir, "flat-one", "1.1", summary="Flat sdist")
        write_wheel(storage_dir / "nested" / "1.0", "nested", "1.0", summary="In pypicloud layout")
        return {p.filename: p for p in cache.storage.list()}
