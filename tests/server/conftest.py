"""``pkgcache serve`` started as users start it, on a free loopback port, and the
clients that talk to it (pip, uv, twine, pypi-simple, httpx)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ServerProcess

#: the clients' environment: no user or machine configuration (extra indexes, find-links)
CLIENT_ENV = {
    k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "TWINE_", "PKGCACHE_", "PPC_"))
} | {"PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1", "UV_NO_CACHE": "1", "UV_OFFLINE": "0"}


class Served(ServerProcess):
    """One ``pkgcache serve`` process for a config file; its output goes to ``log``."""

    def __init__(self, config: Path, workers: int = 1) -> None:
        super().__init__()
        self.config, self.workers = config, workers
        self.log = config.with_suffix(f".{self.port}.log")
        self.storage = Path()  # set by a fixture that made one

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "pkgcache", "serve", "-c", str(self.config),
            "--port", str(self.port), "--workers", str(self.workers), "--no-access-log",
        ]  # fmt: skip

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PKGCACHE_", "PPC_"))}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, env=env)
        for _ in range(400):
            if self.process.poll() is not None:
                raise RuntimeError(f"pkgcache serve exited: {self.log.read_text()}")
            if self.ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"pkgcache serve did not start: {self.log.read_text()}")

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


def write_config(path: Path, keys: dict[str, Any]) -> Path:
    path.write_text("[app:main]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
    return path


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``serve(keys)``: a running server for those config keys (stopped after the test)."""
    started: list[Served] = []

    def start(keys: dict[str, Any], workers: int = 1, name: str = "pypi") -> Served:
        server = Served(write_config(tmp_path / f"{name}.ini", keys), workers)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    path = tmp_path / "storage"
    path.mkdir()
    return path


def run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """A client command; its output is kept for the assertion messages."""
    return subprocess.run(command, capture_output=True, text=True, env=CLIENT_ENV, cwd=cwd, timeout=300)


def uv() -> str:
    found = shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv")
    if found is None:
        pytest.fail("uv is not installed: pip install -r requirements-dev.txt")
    return found


def twine(*args: str) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "twine", "upload", "--disable-progress-bar", "--non-interactive", *args)


def password_hash(password: str) -> str:
    """A password hash as pypicloud's ppc-gen-password writes it (fewer rounds: tests stay fast)."""
    from passlib.hash import sha512_crypt

    return str(sha512_crypt.using(rounds=5000).hash(password))


def build_wheel(
    folder: Path, name: str, version: str, summary: str = "A test package", requires: str = ">=3.8"
) -> Path:
    """A wheel pip and uv install: a module, METADATA, WHEEL and RECORD."""
    import base64
    import hashlib
    import zipfile

    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n"
            f"Requires-Python: {requires}\n\n"
        ).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = (
        "".join(
            f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
            for path, data in files.items()
        )
        + f"{info}/RECORD,,\n"
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
        archive.writestr(f"{info}/RECORD", record)
    return path


@pytest.fixture
def bucket(moto_port: int) -> str:
    """A fresh, empty bucket on the moto server."""
    import boto3

    name = f"pkgs-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{moto_port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
    )
    client.create_bucket(Bucket=name)
    client.close()
    return name
