"""Install only what you need: fresh virtual environments from the built wheels.

For each set of distributions (the core alone, the core with one backend,
everything): ``pkgcache backends`` lists exactly what is installed, the
libraries of absent backends are not installed at all, an absent backend in a
config file gives the ``pip install`` advice and exit code 1, and each
installed backend passes a smoke run (validate, reload, summary) against its
real server. Slow (minutes): ``pytest -m "not matrix"`` leaves it out of a
quick local loop; CI always runs it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import answers, dynamo_config, skip_or_fail

pytestmark = pytest.mark.matrix

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "examples" / "storage"
DRIVERS = {"sql": "sqlalchemy", "redis": "redis", "dynamo": "boto3"}
STORAGES = {"s3": "boto3"}
COMBOS = {"core": [], "sql": ["sql"], "redis": ["redis"], "dynamo": ["dynamo"], "all": ["sql", "redis", "dynamo"]}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    folders = [ROOT / "core", *(ROOT / "plugins" / b for b in [*DRIVERS, *STORAGES, "server"])]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(dist), *map(str, folders)],
        check=True,
        timeout=600,
    )
    return dist


def venv_with(tmp: Path, wheels: Path, backends: list[str]) -> Path:
    env = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    python = env / "bin" / "python"
    extras = f"[{','.join(backends)}]" if backends else ""
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--find-links", str(wheels), f"pkgcache{extras}"],
        check=True,
        timeout=900,
    )
    return python


def pkgcache(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-m", "pkgcache", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def smoke_config(backend: str, tmp: Path, moto_port: int) -> str:
    if backend == "sql":
        keys = {"pypi.db": "sql", "db.url": f"sqlite:///{tmp}/cache.db"}
    elif backend == "redis":
        if not answers(6379):
            skip_or_fail("redis server not reachable at 127.0.0.1:6379")
        keys = {
            "pypi.db": "redis",
            "db.url": "redis://127.0.0.1:6379/10",
            "db.prefix": f"matrix-{uuid.uuid4().hex[:6]}:",
        }
    else:
        keys = {k: str(v) for k, v in dynamo_config(moto_port).items()}
    keys["storage.dir"] = str(SAMPLE)
    path = tmp / f"{backend}.ini"
    path.write_text("[app:main]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
    return str(path)


@pytest.fixture
def venv_tmp(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    shutil.rmtree(tmp_path / "venv", ignore_errors=True)


@pytest.mark.parametrize("combo", list(COMBOS))
def test_install_only_what_you_need(combo: str, wheels: Path, venv_tmp: Path, moto_port: int) -> None:
    backends = COMBOS[combo]
    python = venv_with(venv_tmp, wheels, backends)

    listed = json.loads(pkgcache(python, "backends", "--check", "--format", "json", cwd=venv_tmp).stdout)
    installed = {r["name"] for r in listed if r["kind"] == "backend" and r["status"] == "installed"}
    assert installed == {"memory", *backends}

    present = subprocess.run(
        [str(python), "-c", f"import importlib.util as u, json; print(json.dumps([m for m in {list(DRIVERS.values())!r} if u.find_spec(m)]))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert sorted(json.loads(present.stdout)) == sorted(DRIVERS[b] for b in backends)

    for absent in sorted(set(DRIVERS) - set(backends)):
        config = venv_tmp / f"absent-{absent}.ini"
        config.write_text(f"[app:main]\npypi.db = {absent}\nstorage.dir = {SAMPLE}\n")
        result = pkgcache(python, "validate", str(config), cwd=venv_tmp)
        assert result.returncode == 1
        assert f"backend '{absent}' is not installed: pip install pkgcache-{absent}" in result.stderr

    web = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(bool(u.find_spec('starlette') or u.find_spec('uvicorn')))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert web.stdout.strip() == "False"  # no web library without pkgcache-server
    serve = pkgcache(python, "serve", "-c", "pypi.ini", cwd=venv_tmp)
    assert serve.returncode == 2 and "command 'serve' is not installed: pip install pkgcache-server" in serve.stderr

    if "s3" not in backends:
        config = venv_tmp / "absent-s3.ini"
        config.write_text("[app:main]\npypi.db = memory\npypi.storage = s3\nstorage.bucket = b-1\n")
        result = pkgcache(python, "validate", str(config), cwd=venv_tmp)
        assert result.returncode == 1
        assert "storage 's3' is not installed: pip install pkgcache-s3" in result.stderr

    for backend in backends:
        config = smoke_config(backend, venv_tmp, moto_port)
        assert pkgcache(python, "validate", config, cwd=venv_tmp).returncode == 0
        reload = pkgcache(python, "reload", "-c", config, cwd=venv_tmp)
        assert reload.returncode == 0, reload.stderr
        assert "added 13," in reload.stdout
        summary = pkgcache(python, "summary", "-c", config, "--format", "json", cwd=venv_tmp)
        assert [row["name"] for row in json.loads(summary.stdout)][:2] == ["annotated-types", "idna"]


def test_s3_storage_installs_alone(wheels: Path, venv_tmp: Path, moto_port: int) -> None:
    from pkgcache.file_storage import FileStorage
    from tests.support import make_storage, s3_config

    python = venv_with(venv_tmp, wheels, ["s3"])
    listed = json.loads(pkgcache(python, "backends", "--check", "--format", "json", cwd=venv_tmp).stdout)
    assert {r["name"] for r in listed if r["kind"] == "storage" and r["status"] == "installed"} == {"file", "s3"}
    assert {r["name"] for r in listed if r["kind"] == "backend" and r["status"] == "installed"} == {"memory"}

    bucket = f"matrix-{uuid.uuid4().hex[:8]}"
    target = make_storage(moto_port, bucket)
    target.client.create_bucket(Bucket=bucket)
    source = FileStorage(FileStorage.Settings(dir=SAMPLE))
    for package in source.list():
        with source.open(package) as handle:
            target.upload(package, handle)
    keys = {"pypi.db": "sql", "db.url": f"sqlite:///{venv_tmp}/cache.db", **s3_config(moto_port, bucket)}
    config = venv_tmp / "s3.ini"
    config.write_text("[app:main]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
    result = pkgcache(python, "validate", str(config), cwd=venv_tmp)
    assert result.returncode == 1 and "backend 'sql' is not installed: pip install pkgcache-sql" in result.stderr
    config.write_text(
        config.read_text()
        .replace("pypi.db = sql", "pypi.db = memory")
        .replace(f"db.url = sqlite:///{venv_tmp}/cache.db\n", "")
    )
    assert pkgcache(python, "validate", str(config), cwd=venv_tmp).returncode == 0
    reload = pkgcache(python, "reload", "-c", str(config), cwd=venv_tmp)
    assert reload.returncode == 0, reload.stderr
    assert "added 13," in reload.stdout


def test_server_installs_and_serves(wheels: Path, venv_tmp: Path) -> None:
    """``pip install pkgcache[server]`` alone: ``pkgcache serve`` answers pip's request."""
    import time
    import urllib.request

    from tests.support import free_port

    python = venv_with(venv_tmp, wheels, ["server"])
    config = venv_tmp / "memory.ini"
    config.write_text(f"[app:main]\npypi.db = memory\nstorage.dir = {SAMPLE}\n")
    port = free_port()
    server = subprocess.Popen(
        [str(python), "-m", "pkgcache", "serve", "-c", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/simple/idna/") as response:
                    assert b"idna-3.10-py3-none-any.whl#sha256=" in response.read()
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("pkgcache serve did not answer")
    finally:
        server.terminate()
        server.wait(10)
