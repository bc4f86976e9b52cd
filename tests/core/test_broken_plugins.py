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


class Mismatched(MemoryCache):  # its settings entry point names another model
    pass
"""

#: a settings model declared alone (entry point group pkgcache.backend_settings)
LAZY_SETTINGS = """
from pkgcache import BackendSettings


class Settings(BackendSettings):
    color: str = "blue"
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "fake_plugins.py").write_text(FAKE_MODULE)
    (tmp_path / "fake_lazy_settings.py").write_text(LAZY_SETTINGS)
    (tmp_path / "fake_lazy_cache.py").write_text("import fake_heavy_driver  # not installed\n")
    info = tmp_path / "fake_plugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[pkgcache.backends]\n"
        "brokenimport = fake_plugins_missing:Cache\n"
        "failsonimport = fake_plugins:Missing\n"
        "notacache = fake_plugins:NotACache\n"
        "badsettings = fake_plugins:BadSettings\n"
        "lazybroken = fake_lazy_cache:Cache\n"
        "mismatched = fake_plugins:Mismatched\n"
        "[pkgcache.backend_settings]\n"
        "lazybroken = fake_lazy_settings:Settings\n"
        "mismatched = fake_lazy_settings:Settings\n"
    )
    # another distribution cannot replace the settings model of a backend it does not bring
    other = tmp_path / "other_plugins-0.1.dist-info"
    other.mkdir()
    (other / "METADATA").write_text("Metadata-Version: 2.1\nName: other-plugins\nVersion: 0.1\n")
    (other / "entry_points.txt").write_text("[pkgcache.backend_settings]\nmemory = fake_lazy_settings:Settings\n")
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
    assert "fake_heavy_driver" in status["lazybroken"] and status["lazybroken"].startswith("broken:")
    assert "make them the same class" in status["mismatched"]
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


def config_of(site: Path, backend: str, *lines: str) -> Path:
    config = site / f"{backend}-{len(list(site.glob('*.ini')))}.ini"
    config.write_text("\n".join(["[app:main]", f"pypi.db = {backend}", f"storage.dir = {site}", *lines, ""]))
    return config


def test_a_settings_entry_point_validates_without_importing_the_backend(site: Path) -> None:
    """The model named in pkgcache.backend_settings checks the db.* keys; the backend is
    imported only when a cache is built, and its failure is then one line on pypi.db."""
    config = config_of(site, "lazybroken", "db.color = red")
    assert run(site, "validate", str(config)).returncode == 0  # fake_lazy_cache was never imported
    typo = run(site, "validate", str(config_of(site, "lazybroken", "db.colour = red")))
    assert "unknown key for backend 'lazybroken': did you mean 'db.color'?" in typo.stderr
    used = run(site, "list", "-c", str(config))
    assert used.returncode == 1 and "Traceback" not in used.stderr
    assert used.stderr.strip() == (
        f"error: {config}:2: pypi.db: backend 'lazybroken' (fake_lazy_cache:Cache) failed to load: "
        "No module named 'fake_heavy_driver'"
    )


def test_a_settings_entry_point_must_name_the_backends_own_model(site: Path) -> None:
    config = config_of(site, "mismatched")
    assert run(site, "validate", str(config)).returncode == 0
    used = run(site, "list", "-c", str(config))
    assert used.returncode == 1
    assert "its Settings is pkgcache.memory.MemoryCache.Settings" in used.stderr
    assert "make them the same class" in used.stderr


def test_a_settings_entry_point_of_another_distribution_is_ignored(site: Path) -> None:
    result = run(site, "validate", str(config_of(site, "memory", "db.color = red")))
    assert result.returncode == 1
    assert "unknown key for backend 'memory'" in result.stderr
