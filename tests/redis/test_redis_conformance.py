"""The conformance kit against standalone Redis and a real three-node Redis Cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pkgcache.testing import CacheConformance

from .conftest import require_shared, unique_prefix


class TestRedisStandalone(CacheConformance):
    prefix = unique_prefix()

    def cache_config(self, storage_dir: Path) -> dict[str, Any]:
        return {"pypi.db": "redis", "db.url": require_shared(), "db.prefix": self.prefix}


class TestRedisCluster(CacheConformance):
    prefix = unique_prefix()
    stateful_examples = 15

    @pytest.fixture(autouse=True)
    def _cluster(self, cluster_url: str) -> None:
        self.url = cluster_url

    def cache_config(self, storage_dir: Path) -> dict[str, Any]:
        return {
            "pypi.db": "pypicloud.cache.RedisCache",
            "db.url": self.url,
            "db.clustered": "true",
            "db.prefix": self.prefix,
        }
