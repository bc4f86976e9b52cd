"""The conformance kit against the SQL backend on every database it supports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pkgcache.testing import CacheConformance

from .conftest import MARIADB_URL, POSTGRES_URL, require


class TestSQLiteFile(CacheConformance):
    def cache_config(self, storage_dir: Path) -> dict[str, Any]:
        return {"pypi.db": "sql", "db.url": f"sqlite:///{storage_dir.parent}/cache.db"}


class TestSQLiteMemory(CacheConformance):
    shared_state = False  # each sqlite:// engine is its own database

    def cache_config(self, storage_dir: Path) -> dict[str, Any]:
        return {"pypi.db": "sql", "db.url": "sqlite://"}


class TestPostgreSQL(CacheConformance):
    def cache_config(self, storage_dir: Path) -> dict[str, Any]:
        return {"pypi.db": "sql", "db.url": require(POSTGRES_URL)}


class TestMariaDB(CacheConformance):
    def cache_config(self, storage_dir: Path) -> dict[str, Any]:
        return {"pypi.db": "pypicloud.cache.SQLCache", "db.url": require(MARIADB_URL)}
