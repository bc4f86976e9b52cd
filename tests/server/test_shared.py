"""Several frontends on one cache and one storage: an upload or a delete through any
of them shows on the very next request to any other (no page outlives its marker);
and an S3 storage's downloads are redirected to the object store."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pkgcache import load_cache
from tests.support import POSTGRES_URL, require_redis, require_sql, s3_config, unique_prefix

from .conftest import Served, build_wheel, password_hash

AUTH = {"Authorization": "Basic " + base64.b64encode(b"alice:s3cret").decode()}
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def upload(server: Served, wheel: Path, name: str, version: str) -> None:
    response = httpx.post(
        f"{server.url}/simple/",
        data={":action": "file_upload", "name": name, "version": version},
        files={"content": (wheel.name, wheel.read_bytes())},
        headers=AUTH,
    )
    assert response.status_code == 200, response.text


def files_of(server: Served, name: str, etag: str | None = None) -> tuple[int, list[str], str]:
    headers = {**JSON, **({"If-None-Match": etag} if etag else {})}
    response = httpx.get(f"{server.url}/simple/{name}/", headers=headers)
    names = [f["filename"] for f in response.json()["files"]] if response.status_code == 200 else []
    return response.status_code, names, response.headers.get("etag", "")


@pytest.mark.parametrize("engine", ["postgresql", "redis"])
def test_two_servers_see_each_others_uploads_and_deletes(
    serve: Callable[..., Served], storage: Path, tmp_path: Path, engine: str
) -> None:
    if engine == "postgresql":
        db: dict[str, Any] = {"pypi.db": "sql", "db.url": require_sql(POSTGRES_URL)}
    else:
        db = {"pypi.db": "redis", "db.url": require_redis(), "db.prefix": unique_prefix()}
    build_wheel(storage, "seed", "1.0")  # the first server fills the cache from it
    keys = {**db, "storage.dir": str(storage), "user.alice": password_hash("s3cret"), "pypi.fallback": "none"}
    with load_cache({**db, "storage.dir": str(storage)}, environ={}) as cache:
        cache.clear_all()  # what an earlier run left
    first = serve(keys, name="first")
    second = serve(keys, workers=2, name="second")
    assert files_of(second, "seed")[:2] == (200, ["seed-1.0-py3-none-any.whl"])
    assert files_of(second, "shared")[0] == 404
    for server in (first, second):  # a name no database holds is simply not there
        assert httpx.get(f"{server.url}/simple/a%00b/").status_code == 404

    upload(first, build_wheel(tmp_path / "dist", "shared", "1.0"), "shared", "1.0")
    status, names, etag = files_of(second, "shared")
    assert (status, names) == (200, ["shared-1.0-py3-none-any.whl"])
    assert files_of(second, "shared", etag)[0] == 304
    upload(second, build_wheel(tmp_path / "dist", "shared", "2.0"), "shared", "2.0")
    for server in (first, second, second):  # each worker of the second too
        status, names, _ = files_of(server, "shared", etag)
        assert (status, names) == (200, ["shared-2.0-py3-none-any.whl", "shared-1.0-py3-none-any.whl"])
    index = httpx.get(f"{second.url}/simple/", headers=JSON).json()
    assert [p["name"] for p in index["projects"]] == ["seed", "shared"]

    with load_cache({**db, "storage.dir": str(storage)}, environ={}) as cache:  # a delete by another program
        found = cache.fetch("shared-2.0-py3-none-any.whl")
        assert found is not None
        cache.delete(found)
    for server in (first, second):
        assert files_of(server, "shared")[1] == ["shared-1.0-py3-none-any.whl"]
    with load_cache({**db, "storage.dir": str(storage)}, environ={}) as cache:
        cache.clear_all()


def test_an_s3_storage_redirects_downloads(
    serve: Callable[..., Served], tmp_path: Path, moto_port: int, bucket: str
) -> None:
    keys = {
        "pypi.db": "sql",
        "db.url": f"sqlite:///{tmp_path}/cache.db",
        **s3_config(moto_port, bucket),
        "user.alice": password_hash("s3cret"),
    }
    server = serve(keys)
    wheel = build_wheel(tmp_path / "dist", "cloud-pkg", "1.0")
    upload(server, wheel, "cloud-pkg", "1.0")
    [entry] = httpx.get(f"{server.url}/simple/cloud-pkg/", headers=JSON).json()["files"]
    response = httpx.get(f"{server.url}/simple/cloud-pkg/{entry['url']}")
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(f"http://127.0.0.1:{moto_port}/") and "Signature" in location
    assert httpx.get(location).content == wheel.read_bytes()
    metadata = httpx.get(f"{server.url}/simple/cloud-pkg/{entry['url']}.metadata")
    assert metadata.status_code == 200 and b"Name: cloud-pkg" in metadata.content
