"""Real clients against a served index: pip, uv, twine and pypi-simple."""

from __future__ import annotations

import hashlib
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
from pypi_simple import PyPISimple

from pkgcache.testing import write_sdist

from .conftest import Served, build_wheel, password_hash, run, twine, uv


def sqlite_keys(tmp_path: Path, storage: Path, **keys: object) -> dict[str, object]:
    return {"pypi.db": "sql", "db.url": f"sqlite:///{tmp_path}/cache.db", "storage.dir": str(storage), **keys}


def test_pip_uv_and_a_standards_client_install_from_the_index(
    serve: Callable[..., Served], storage: Path, tmp_path: Path
) -> None:
    wheel = build_wheel(storage, "demo-pkg", "1.0", requires=">=3.8")
    build_wheel(storage, "demo-pkg", "0.9")
    write_sdist(storage, "demo-pkg", "0.9", summary="old")
    server = serve(sqlite_keys(tmp_path, storage, **{"pypi.fallback": "none"}))
    index = f"{server.url}/simple/"

    got = tmp_path / "pip-download"
    pip = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir"]
    result = run(*pip, "download", "--no-deps", "--index-url", index, "-d", str(got), "demo-pkg")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [p.name for p in got.iterdir()] == [wheel.name]
    assert (got / wheel.name).read_bytes() == wheel.read_bytes()

    target = tmp_path / "pip-target"
    result = run(*pip, "install", "--no-deps", "--index-url", index, "--target", str(target), "demo-pkg==0.9")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (target / "demo_pkg" / "__init__.py").read_text() == "VERSION = '0.9'\n"

    uv_target = tmp_path / "uv-target"
    result = run(uv(), "pip", "install", "--index-url", index, "--target", str(uv_target), "demo-pkg")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (uv_target / "demo_pkg" / "__init__.py").read_text() == "VERSION = '1.0'\n"

    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read("demo_pkg-1.0.dist-info/METADATA")
    for accept in ("application/vnd.pypi.simple.v1+json", "application/vnd.pypi.simple.v1+html"):
        with PyPISimple(index, accept=accept) as client:
            page = client.get_project_page("demo-pkg")
            files = {p.filename: p for p in page.packages}
            assert set(files) == {wheel.name, "demo_pkg-0.9-py3-none-any.whl", "demo_pkg-0.9.tar.gz"}
            for found in files.values():
                assert found.digests["sha256"] == hashlib.sha256((storage / found.filename).read_bytes()).hexdigest()
            assert files[wheel.name].requires_python == ">=3.8"
            assert files[wheel.name].has_metadata and not files["demo_pkg-0.9.tar.gz"].has_metadata
            assert client.get_package_metadata_bytes(files[wheel.name]) == metadata  # PEP 658, hash checked
            assert client.get_index_page().projects == ["demo-pkg"]


def test_pip_23_0_downloads_from_the_index(serve: Callable[..., Served], storage: Path, tmp_path: Path) -> None:
    """pip 23.0, what ``python -m venv`` still brings on Debian 12's Python 3.11, reads the JSON
    page's ``dist-info-metadata`` as a string: an index that sends PEP 691's object there
    breaks it (TypeError), so the page must not."""
    wheel = build_wheel(storage, "demo-pkg", "1.0")
    server = serve(sqlite_keys(tmp_path, storage, **{"pypi.fallback": "none"}))
    page = httpx.get(f"{server.url}/simple/demo-pkg/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert page.json()["files"][0]["core-metadata"] != False  # noqa: E712 - the wheel's metadata is offered
    venv = tmp_path / "venv"
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir"]
    for step in ([sys.executable, "-m", "venv", str(venv)], [*pip, "install", "-q", "pip==23.0.1"]):
        made = run(*step)
        assert made.returncode == 0, made.stdout + made.stderr
    got = tmp_path / "got"
    result = run(*pip, "download", "--no-deps", "--index-url", f"{server.url}/simple/", "-d", str(got), "demo-pkg")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (got / wheel.name).read_bytes() == wheel.read_bytes()


def test_twine_uploads_and_pip_installs_what_it_uploaded(
    serve: Callable[..., Served], storage: Path, tmp_path: Path
) -> None:
    keys = sqlite_keys(tmp_path, storage, **{"user.alice": password_hash("s3cret"), "pypi.fallback": "none"})
    server = serve(keys)
    dist = build_wheel(tmp_path / "dist", "fresh-pkg", "2.0", summary="Uploaded")
    index = f"{server.url}/simple/"

    refused = twine("--repository-url", index, "-u", "alice", "-p", "wrong", str(dist))
    assert refused.returncode != 0 and "401" in refused.stdout + refused.stderr
    assert not list(storage.rglob("*.whl"))

    result = twine("--repository-url", index, "-u", "alice", "-p", "s3cret", str(dist))
    assert result.returncode == 0, result.stdout + result.stderr
    assert [p.relative_to(storage).as_posix() for p in storage.rglob("*.whl")] == [f"fresh-pkg/2.0/{dist.name}"]

    again = twine("--repository-url", index, "-u", "alice", "-p", "s3cret", str(dist))
    assert again.returncode != 0 and "409" in again.stdout + again.stderr

    page = httpx.get(f"{index}fresh-pkg/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()
    [entry] = page["files"]
    assert entry["hashes"]["sha256"] == hashlib.sha256(dist.read_bytes()).hexdigest()
    assert entry["size"] == dist.stat().st_size and entry["core-metadata"]
    target = tmp_path / "target"
    pip = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir"]
    result = run(*pip, "install", "--no-deps", "--index-url", index, "--target", str(target), "fresh-pkg")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (target / "fresh_pkg" / "__init__.py").is_file()

    uv_dist = build_wheel(tmp_path / "uvdist", "uv-pkg", "1.0")
    published = run(
        uv(), "publish", "--publish-url", index, "--username", "alice", "--password", "s3cret", str(uv_dist)
    )
    assert published.returncode == 0, published.stdout + published.stderr
    assert httpx.get(f"{index}uv-pkg/").status_code == 200
