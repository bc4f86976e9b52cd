"""Finding backends: entry points, dotted paths, pypicloud names, install advice."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pkgcache import BackendNotInstalled, ConfigError, registry
from pkgcache.memory import MemoryCache
from pkgcache.registry import BACKENDS_GROUP, describe_drivers, load_backend, load_storage


class NotACache:
    Settings = None


def test_entry_point_and_dotted_paths_load_the_class() -> None:
    assert load_backend("memory") is MemoryCache
    assert load_backend("pkgcache.memory:MemoryCache") is MemoryCache
    assert load_backend("pkgcache.memory.MemoryCache") is MemoryCache
    assert load_storage("pypicloud.storage.FileStorage").__name__ == "FileStorage"


def test_known_but_absent_backend_gives_pip_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        registry.KNOWN_BACKENDS, "imaginary", registry.Known("pkgcache_imaginary:C", "pkgcache-imaginary")
    )
    with pytest.raises(BackendNotInstalled) as info:
        load_backend("imaginary")
    assert str(info.value) == "pypi.db: backend 'imaginary' is not installed: pip install pkgcache-imaginary"


def test_unknown_backend_suggests_a_name() -> None:
    with pytest.raises(ConfigError, match="did you mean 'memory'"):
        load_backend("memori")


def test_bad_dotted_paths_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="cannot import 'no_such_module:Thing'"):
        load_backend("no_such_module:Thing")
    with pytest.raises(ConfigError, match=r"not a subclass of pkgcache\.Cache"):
        load_backend(f"{__name__}:NotACache")


def test_describe_lists_installed_and_known_without_importing() -> None:
    rows = {r.name: r for r in describe_drivers(BACKENDS_GROUP)}
    assert rows["memory"].status == "installed"
    assert rows["memory"].distribution == "pkgcache"
    for name, known in registry.KNOWN_BACKENDS.items():
        if name not in registry.installed(BACKENDS_GROUP):
            assert rows[name].install == f"pip install {known.distribution}"


def test_core_commands_import_no_database_driver() -> None:
    """Importing pkgcache, validate and backends must not import SQLAlchemy, redis or boto3."""
    code = """
import sys
from click.testing import CliRunner
import pkgcache
from pkgcache.cli import cli
r = CliRunner()
assert r.invoke(cli, ["backends"]).exit_code == 0
r.invoke(cli, ["validate", "nowhere.ini"])
pkgcache.load_settings({"pypi.db": "memory", "storage.dir": "/x"}, environ={})
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "redis", "boto3", "botocore"))
print(",".join(bad))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
