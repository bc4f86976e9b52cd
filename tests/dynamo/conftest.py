"""moto's standalone DynamoDB server on a free loopback port, reached over HTTP like DynamoDB Local."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import skip_or_fail


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class MotoServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"moto server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


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
