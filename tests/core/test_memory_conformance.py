"""The conformance kit against the built-in ``memory`` backend, the reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pkgcache.testing import CacheConformance


class TestMemoryConformance(CacheConformance):
    shared_state = False  # each memory cache is its own process-local store

    def cache_config(self, storage_dir: Path) -> dict[str, Any]:
        return {"pypi.db": "memory"}
