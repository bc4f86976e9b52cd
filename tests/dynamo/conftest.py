"""moto's standalone DynamoDB server on a free loopback port, reached over HTTP like DynamoDB Local."""

from __future__ import annotations

import importlib.util
import socket
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ServerProcess, skip_or_fail


class MotoServer(ServerProcess):
    """moto's standalone server, reached over HTTP like DynamoDB Local."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False


def _require_moto() -> None:
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        skip_or_fail("moto[server] is not installed")


@pytest.fixture(scope="session")
def moto_port() -> Iterator[int]:
    _require_moto()
    server = MotoServer()
    server.start()
    yield server.port
    server.stop()


@pytest.fixture
def own_moto() -> Iterator[MotoServer]:
    _require_moto()
    server = MotoServer()
    server.start()
    yield server
    server.stop()


def dynamo_config(port: int, **keys: Any) -> dict[str, Any]:
    """Keys for a cache on the moto server, in tables of their own."""
    return {
        "pypi.db": "dynamo",
        "db.host": "127.0.0.1",
        "db.port": str(port),
        "db.access_key": "testing",
        "db.secret_key": "testing-secret",
        "db.region": "us-east-1",
        "db.namespace": f"t{uuid.uuid4().hex[:8]}.",
        **keys,
    }
