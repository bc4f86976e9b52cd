"""Broken third-party plugins, installed for real (a dist-info on the path): the others still work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FAKE_MODULE = """
from pkgcache.memory import MemoryCache


class NotACache:
    Settings = None


class BadSettings(MemoryCache):
    Settings = dict
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "fake_plugins.py").write_text(FAKE_MODULE)
    info = tmp_path / "fake_plugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[pkgcache.backends]\n"
        "brokenimport = fake_plugins_missing:Cache\n"
        "failsonimport = fake_plugins:Missing\n"
        "notacache = fake_plugins:NotACache\n"
        "badsettings = fake_plugins:BadSettings\n"
    )
    return tmp_path


def run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "pkgcache", *args], capture_output=True, text=True, env=env, cwd=site)


def test_backends_lists_the_others_and_says_why_each_is_broken(site: Path) -> None:
    result = run(site, "backends", "--check", "--format", "json")
    assert result.returncode == 1, result.stderr
    status = {r["name"]: r["status"] for r in json.loads(result.stdout)}
    assert status["memory"] == "installed"
    assert status["brokenimport"].startswith("broken: module 'fake_plugins_missing' is not importable")
    assert "fake_plugins:Missing" in status["failsonimport"] and status["failsonimport"].startswith("broken:")
    assert "not a subclass of pkgcache.Cache" in status["notacache"]
    assert "has no pydantic model as its Settings" in status["badsettings"]
    plain = run(site, "backends")  # without --check nothing is imported
    assert "brokenimport" in plain.stdout and "memory" in plain.stdout


@pytest.mark.parametrize("name", ["brokenimport", "failsonimport", "notacache", "badsettings"])
def test_choosing_a_broken_backend_is_one_clear_line(site: Path, name: str) -> None:
    config = site / "c.ini"
    config.write_text(f"[app:main]\npypi.db = {name}\nstorage.dir = /srv\n")
    result = run(site, "validate", str(config))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{config}:2: pypi.db: backend {name!r}")
