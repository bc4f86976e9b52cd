"""Servers and helpers that tests of several folders share: loaded as a pytest plugin by
``tests/conftest.py`` (its fixtures, such as ``moto_port``, exist in every folder), and
importable from any test module.

A test folder imports helpers from here, never from another folder's
``conftest.py`` (importing a conftest registers its fixtures a second time
and ties the folders' fixtures together).
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from pkgcache.testing._overlap import ReloadGate, assert_one_reloaded_while_others_called

#: set by .ci/run: a missing server is then a failure, never a skip
REQUIRE_SERVERS = os.environ.get("PKGCACHE_REQUIRE_SERVERS", "") not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> None:
    """Skip a test whose server is absent; fail instead when servers are required (CI)."""
    if REQUIRE_SERVERS:
        pytest.fail(f"{reason} (PKGCACHE_REQUIRE_SERVERS is set, so this is a failure)", pytrace=False)
    pytest.skip(reason)


def _fill_once(config: dict[str, Any], barrier: Any, gate: ReloadGate, results: Any) -> None:
    from pkgcache import load_cache

    barrier.wait()  # start together: schema or table creation races too
    cache = load_cache(config, environ={})
    cache.reload_from_storage = gate.held(cache.reload_from_storage)
    results.put(gate.reload_if_needed(cache))
    cache.close()


def reload_if_needed_from_processes(config: dict[str, Any], processes: int = 4) -> list[bool]:
    """Start ``processes`` fresh interpreters that call ``reload_if_needed`` at once;
    return, sorted, whether each one reloaded (after checking that exactly one did,
    while the others' calls were under way)."""
    ctx = multiprocessing.get_context("spawn")
    barrier, gate, results = ctx.Barrier(processes), ReloadGate(processes, ctx), ctx.Queue()
    workers = [ctx.Process(target=_fill_once, args=(config, barrier, gate, results)) for _ in range(processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(180)
    assert [w.exitcode for w in workers] == [0] * processes
    runs = [results.get(timeout=5) for _ in workers]
    assert_one_reloaded_while_others_called(runs)
    return sorted(reloaded for reloaded, _, _ in runs)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """A server a fixture owns: started on a free loopback port, waited for, stopped.

    Subclasses say how to start it (``command``) and how to tell it answers
    (``ready``); stopping and starting again keeps the port, which is how the
    fault tests take a server away and bring it back.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if self.ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.command()[0]} on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


POSTGRES_URL = os.environ.get("PKGCACHE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("PKGCACHE_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test?charset=utf8mb4")
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


def answers(port: int) -> bool:
    """A Redis server on ``port`` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def require_redis() -> str:
    """The shared Redis URL, after making sure it answers PING."""
    if not answers(6379):
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


def storage_settings(port: int, bucket: str, **keys: Any) -> Any:
    from pkgcache_s3 import S3Settings

    config = s3_config(port, bucket, **keys)
    return S3Settings(**{k.removeprefix("storage."): v for k, v in config.items() if k.startswith("storage.")})


def make_storage(port: int, bucket: str, **keys: Any) -> Any:
    """An S3 storage in ``bucket`` on the moto server at ``port``."""
    from pkgcache_s3 import S3Storage

    return S3Storage(storage_settings(port, bucket, **keys))


def dynamo_config(port: int, **keys: Any) -> dict[str, Any]:
    """Keys for a DynamoDB cache on the moto server at ``port``, in tables of their own."""
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


@pytest.fixture(scope="session")
def moto_port() -> Iterator[int]:
    """One moto server (S3 and DynamoDB) for the whole session."""
    require_moto()
    server = MotoServer()
    server.start()
    yield server.port
    server.stop()


@pytest.fixture
def own_moto() -> Iterator[MotoServer]:
    """A moto server of the test's own, to stop and start."""
    require_moto()
    server = MotoServer()
    server.start()
    yield server
    server.stop()


class RequestCounter:
    """Counts the HTTP requests a boto3 client sends, by operation, through botocore's event hooks."""

    def __init__(self, client: Any) -> None:
        self.counts: Counter[str] = Counter()
        client.meta.events.register("before-send.s3.*", self._sent)

    def _sent(self, request: Any, **kwargs: Any) -> None:
        self.counts[kwargs["event_name"].rsplit(".", 1)[1]] += 1

    def reset(self) -> None:
        self.counts.clear()

    @property
    def total(self) -> int:
        return sum(self.counts.values())
