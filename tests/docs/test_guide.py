"""Every code block of docs/writing-a-backend.md runs: the guide's backend passes the kit,
and its files install with pip into a fresh virtual environment as a plugin would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pkgcache.testing import write_sdist

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GUIDE = Path(__file__).parents[2] / "docs" / "writing-a-backend.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks() -> list[tuple[str, str, str]]:
    found = []
    for language, body in BLOCK.findall(GUIDE.read_text("utf-8")):
        marker = re.match(r"# file: (\S+)\n", body)
        assert marker, f"a {language} block of the guide has no '# file:' line, so no test runs it:\n{body[:200]}"
        found.append((language, marker[1], body))
    return found


def write_blocks(folder: Path) -> None:
    for language, name, body in blocks():
        (folder / name).write_text(body, "utf-8")
        if language == "toml":
            assert tomllib.loads(body)["project"]["entry-points"]["pkgcache.backends"]


def test_every_block_is_tested(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("PKGCACHE_REQUIRE_SERVERS", None)
    (tmp_path / "storage").mkdir()
    write_blocks(tmp_path)
    for language, name, _ in blocks():
        if language != "python" or name == "json_backend.py":
            continue
        command = (
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name]
            if name.startswith("test_")
            else [sys.executable, name]
        )
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{name}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert not (tmp_path / ".hypothesis").exists(), "the kit left a .hypothesis/ folder behind"


@pytest.mark.matrix
def test_the_guide_installs_with_pip_as_a_plugin(tmp_path: Path) -> None:
    """``pip install`` of the guide's files next to its pyproject.toml gives a backend
    that pkgcache finds by its entry point name and runs."""
    plugin, storage, venv = tmp_path / "plugin", tmp_path / "storage", tmp_path / "venv"
    plugin.mkdir()
    write_blocks(plugin)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    core = Path(__file__).parents[2] / "core"
    subprocess.run([python, "-m", "pip", "install", "-q", str(core), str(plugin)], check=True, timeout=900)

    listed = subprocess.run(
        [python, "-m", "pkgcache", "backends", "--check", "--format", "json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    found = {r["name"]: r for r in json.loads(listed.stdout) if r["kind"] == "backend"}
    assert found["json"]["status"] == "installed", listed.stdout

    write_sdist(storage, "demo", "1.0", summary="From the guide's backend")
    config = tmp_path / "json.ini"
    config.write_text(f"[app:main]\npypi.db = json\ndb.path = {tmp_path / 'cache.json'}\nstorage.dir = {storage}\n")
    for command in (["reload", "-c", str(config)], ["list", "-c", str(config)]):
        result = subprocess.run(
            [python, "-m", "pkgcache", *command], capture_output=True, text=True, cwd=tmp_path, timeout=300
        )
        assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["demo"]
