"""Redis servers for the tests: the shared one on 6379, and servers the fixtures start.

Started servers (a three-node cluster, a standalone server to stop and
restart) listen on free loopback ports, keep nothing on disk and are shut
down at the end.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ServerProcess, answers, free_port, skip_or_fail, unique_prefix

__all__ = ["RedisServer", "answers", "require_shared", "unique_prefix"]

SHARED_URL = "redis://127.0.0.1:6379/9"  # a database index the other tests leave alone


def require_shared() -> str:
    if not answers(6379):
        skip_or_fail("redis server not reachable at 127.0.0.1:6379")
    return SHARED_URL


class RedisServer(ServerProcess):
    """One redis-server process on a free loopback port, nothing kept on disk."""

    def __init__(self, folder: Path, port: int | None = None, cluster: bool = False) -> None:
        super().__init__(port)
        self.folder, self.cluster = folder, cluster
        while cluster and self.port > 55535:  # a cluster node also listens on port + 10000
            self.port = free_port()

    def command(self) -> list[str]:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.folder), "--logfile", str(self.folder / f"{self.port}.log")]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{self.port}.conf"]
        self.folder.mkdir(parents=True, exist_ok=True)
        return args

    def ready(self) -> bool:
        return answers(self.port)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A three-master Redis Cluster on free loopback ports, joined with redis-cli."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        skip_or_fail("redis-server and redis-cli are needed for the cluster tests")
    folder = tmp_path_factory.mktemp("cluster")
    nodes = [RedisServer(folder, cluster=True) for _ in range(3)]
    try:
        for node in nodes:
            node.start()
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for _ in range(300):  # every node, not only the first: a lagging one answers CLUSTERDOWN
            infos = [
                subprocess.run(["redis-cli", "-p", str(n.port), "cluster", "info"], capture_output=True, text=True)
                for n in nodes
            ]
            if all("cluster_state:ok" in i.stdout and "cluster_slots_ok:16384" in i.stdout for i in infos):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the test cluster did not reach cluster_state:ok on every node")
        yield f"redis://127.0.0.1:{nodes[0].port}/0"
    finally:
        for node in nodes:
            node.stop()
