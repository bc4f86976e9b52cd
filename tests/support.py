"""Servers that tests of several folders share, importable from any of them.

A test folder imports helpers from here, never from another folder's
``conftest.py`` (importing a conftest registers its fixtures a second time
and ties the folders' fixtures together). What the server tests need of the
SQL, Redis and S3 tests' servers lives here.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import uuid
from typing import Any

from tests.conftest import ServerProcess, skip_or_fail

POSTGRES_URL = os.environ.get("PKGCACHE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: a Redis database index the other tests leave alone
REDIS_URL = "redis://127.0.0.1:6379/9"


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_sql(url: str) -> str:
    """The SQL URL, after making sure its server answers (skip, or fail on CI, when not)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    host, port = parsed.host or "127.0.0.1", parsed.port or {"postgresql": 5432}.get(parsed.get_backend_name(), 3306)
    if not reachable(host, port):
        skip_or_fail(f"{parsed.get_backend_name()} server not reachable at {host}:{port}")
    return url


def require_redis() -> str:
    """The shared Redis URL, after making sure it answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            up = s.recv(16).startswith(b"+PONG")
    except OSError:
        up = False
    if not up:
        skip_or_fail("redis server not reachable at 127.0.0.1:6379")
    return REDIS_URL


def unique_prefix() -> str:
    """A Redis key prefix no other test uses."""
    return f"pkgcache-test-{uuid.uuid4().hex[:8]}:"


class MotoServer(ServerProcess):
    """moto's standalone server (S3 and DynamoDB over HTTP) on a free loopback port."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def ready(self) -> bool:
        return reachable("127.0.0.1", self.port)


def require_moto() -> None:
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        skip_or_fail("moto[server] is not installed")


def s3_config(port: int, bucket: str, **keys: Any) -> dict[str, Any]:
    """Keys of an S3 storage in ``bucket`` on the moto server at ``port``."""
    return {
        "pypi.storage": "s3",
        "storage.bucket": bucket,
        "storage.endpoint_url": f"http://127.0.0.1:{port}",
        "storage.region_name": "us-east-1",
        "storage.aws_access_key_id": "testing",
        "storage.aws_secret_access_key": "testing-secret",
        "storage.max_attempts": "2",
        **keys,
    }
