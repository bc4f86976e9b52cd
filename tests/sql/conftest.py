"""Database URLs for the SQL backend's tests: the real servers on loopback."""

from __future__ import annotations

import pytest

from tests.support import MARIADB_URL, POSTGRES_URL, require_sql

require = require_sql  # the URL, after making sure its server answers (skip, or fail on CI, when not)

__all__ = ["MARIADB_URL", "POSTGRES_URL", "require"]


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """A URL of each kind of database that can be shared between processes."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/cache.db"
    return require(POSTGRES_URL if request.param == "postgresql" else MARIADB_URL)
