"""The example third-party backend (examples/dbm-backend) certified by the kit, like any backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pkgcache.testing import CacheConformance


class TestDbmBackend(CacheConformance):
    shared_state = False  # dbm files are not shared between open handles
    big_project_files = 1000

    def cache_config(self, storage_dir: Path) -> dict[str, Any]:
        return {"pypi.db": "dbm", "db.path": str(storage_dir.parent / "cache.dbm")}
