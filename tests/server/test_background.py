"""Start-up never blocks on the storage, and files written straight into the storage
appear within ``pypi.reload_interval``."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support import free_port

from .conftest import Served, build_wheel, write_config


def test_an_empty_cache_is_filled_in_the_background_and_pages_say_503_meanwhile(tmp_path: Path) -> None:
    """The storage folder is missing at start (a mount not there yet): the server listens
    at once, index pages answer 503 with Retry-After, never an empty index; once the
    folder exists, the fill (retried every 5 s) completes and the pages answer."""
    storage = tmp_path / "storage"
    config = write_config(tmp_path / "pypi.ini", {"pypi.db": "memory", "storage.dir": str(storage)})
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "pkgcache", "serve", "-c", str(config), "--port", str(port)], stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                health = httpx.get(f"{base}/health")
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        assert health.status_code == 503 and health.json()["ready"] is False
        page = httpx.get(f"{base}/simple/")
        assert page.status_code == 503 and page.headers["retry-after"] == "5"
        build_wheel(tmp_path / "staging", "late-pkg", "1.0")
        (tmp_path / "staging").rename(storage)  # the folder appears with its file, at once
        for _ in range(300):
            if httpx.get(f"{base}/health").status_code == 200:
                break
            time.sleep(0.1)
        assert "late-pkg" in httpx.get(f"{base}/simple/").text
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def test_files_written_into_the_storage_appear_within_the_reload_interval(
    serve: Callable[..., Served], storage: Path, tmp_path: Path
) -> None:
    build_wheel(storage, "first-pkg", "1.0")
    keys = {
        "pypi.db": "sql",
        "db.url": f"sqlite:///{tmp_path}/cache.db",
        "storage.dir": str(storage),
        "pypi.reload_interval": "0.5",
        "pypi.fallback": "none",
    }
    server = serve(keys)
    assert httpx.get(f"{server.url}/simple/synced-pkg/").status_code == 404
    build_wheel(storage / "synced-pkg" / "2.0", "synced-pkg", "2.0")  # another program's write
    for _ in range(100):
        response = httpx.get(f"{server.url}/simple/synced-pkg/")
        if response.status_code == 200:
            break
        time.sleep(0.1)
    assert response.status_code == 200 and "synced_pkg-2.0-py3-none-any.whl" in response.text
