"""Hook plugins and name clashes, installed for real (dist-info folders on the path).

A broken hook plugin is left out and the others still load; two
distributions declaring one backend or hook name are one clear error, naming
both, from ``validate`` and ``backends --check``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pkgcache import ConfigError, load_settings, registry
from pkgcache._hooks import HOOKS_GROUP, default_plugin_manager, new_plugin_manager

GOOD_HOOK = """
from pkgcache import hookimpl

@hookimpl
def pkgcache_validate_settings(raw):
    return [("storage.dir", "checked by the good plugin")] if raw.get("storage.dir") == "/flag" else []
"""
WRONG_HOOK = """
from pkgcache import hookimpl

@hookimpl
def pkgcache_no_such_hook():
    pass
"""


def make_dist(site: Path, dist: str, modules: dict[str, str], entry_points: str) -> None:
    """A distribution as pip would leave it: its modules and a dist-info with entry points."""
    for module, code in modules.items():
        (site / f"{module}.py").write_text(code)
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path (this process) and PYTHONPATH (subprocesses), registry scans forgotten."""
    for name in list(os.environ):
        if name.startswith(("PKGCACHE_", "PPC_")):
            monkeypatch.delenv(name)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.declared.cache_clear()
    default_plugin_manager.cache_clear()
    yield tmp_path
    registry.declared.cache_clear()
    default_plugin_manager.cache_clear()


def run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "pkgcache", *args], capture_output=True, text=True, env=env, cwd=site)


def loaded() -> set[str]:
    registry.declared.cache_clear()
    return {name for name, plugin in new_plugin_manager().list_name_plugin() if plugin is not None}


def test_a_broken_hook_plugin_is_left_out_and_the_others_load(site: Path, caplog: pytest.LogCaptureFixture) -> None:
    before = loaded()  # the hook plugins installed in this environment (the example audit hook)
    make_dist(site, "good-hook", {"good_hook": GOOD_HOOK}, f"[{HOOKS_GROUP}]\ngood = good_hook\n")
    make_dist(site, "missing-hook", {}, f"[{HOOKS_GROUP}]\nbroken = no_such_module_xyz\n")
    make_dist(site, "wrong-hook", {"wrong_hook": WRONG_HOOK}, f"[{HOOKS_GROUP}]\nwrong = wrong_hook\n")
    with caplog.at_level(logging.ERROR, logger="pkgcache._hooks"):
        assert loaded() == before | {"good"}
    assert "hook plugin 'broken' is left out" in caplog.text
    assert "hook plugin 'wrong' is left out" in caplog.text and "pkgcache_no_such_hook" in caplog.text
    with pytest.raises(ConfigError, match="checked by the good plugin"):
        load_settings({"pypi.db": "memory", "storage.dir": "/flag"}, environ={})


def test_two_hook_plugins_of_one_name_are_a_clear_error(site: Path) -> None:
    make_dist(site, "clash-one", {"clash_one": GOOD_HOOK}, f"[{HOOKS_GROUP}]\nclash = clash_one\n")
    make_dist(site, "clash-two", {"clash_two": GOOD_HOOK}, f"[{HOOKS_GROUP}]\nclash = clash_two\n")
    assert "clash" not in loaded()  # neither is loaded
    config = site / "c.ini"
    config.write_text("[app:main]\npypi.db = memory\nstorage.dir = /srv\n")
    result = run(site, "validate", str(config))
    assert (result.returncode, result.stdout) == (1, "")
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"{config}: hook plugin 'clash' is declared by 2 distributions, clash-one (clash_one) and "
        "clash-two (clash_two): uninstall all but one"
    )
    listing = run(site, "backends", "--check", "--format", "json")
    assert listing.returncode == 1
    row = next(r for r in json.loads(listing.stdout) if r["name"] == "clash")
    assert row["kind"] == "hook"
    assert row["status"].startswith("broken: hook plugin 'clash' is declared by 2 distributions, clash-one")


def test_two_backends_of_one_name_are_a_clear_error(site: Path) -> None:
    module = "from pkgcache.memory import MemoryCache as Cache\n"
    make_dist(site, "fast-one", {"fast_one": module}, "[pkgcache.backends]\nfast = fast_one:Cache\n")
    make_dist(site, "fast-two", {"fast_two": module}, "[pkgcache.backends]\nfast = fast_two:Cache\n")
    config = site / "c.ini"
    config.write_text("[app:main]\npypi.db = fast\nstorage.dir = /srv\n")
    result = run(site, "validate", str(config))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "MultipleMatches" not in result.stderr
    assert result.stderr.strip() == (
        f"{config}:2: pypi.db: backend 'fast' is declared by 2 distributions, fast-one (fast_one:Cache) and "
        "fast-two (fast_two:Cache): uninstall all but one"
    )
    for args in (["backends"], ["backends", "--check"]):
        listing = run(site, *args)
        assert listing.returncode == 1
        line = next(line for line in listing.stdout.splitlines() if " fast " in line)
        assert "broken: backend 'fast' is declared by 2 distributions" in line
    with pytest.raises(ConfigError, match=r"fast-one .* and fast-two"):
        load_settings({"pypi.db": "fast", "storage.dir": "/srv"}, environ={})
