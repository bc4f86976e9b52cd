"""Database URLs for the SQL backend's tests: the real servers on loopback."""

from __future__ import annotations

import os
import socket

import pytest

from tests.conftest import skip_or_fail

POSTGRES_URL = os.environ.get("PKGCACHE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("PKGCACHE_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test?charset=utf8mb4")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(url: str) -> str:
    """The URL, after making sure its server answers (skip, or fail on CI, when not)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    host, port = parsed.host or "127.0.0.1", parsed.port or {"postgresql": 5432}.get(parsed.get_backend_name(), 3306)
    if not reachable(host, port):
        skip_or_fail(f"{parsed.get_backend_name()} server not reachable at {host}:{port}")
    return url


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """A URL of each kind of database that can be shared between processes."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/cache.db"
    return require(POSTGRES_URL if request.param == "postgresql" else MARIADB_URL)
