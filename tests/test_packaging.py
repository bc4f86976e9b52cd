"""The distributions' metadata: versions in step, pins that agree, complete metadata."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import pkgcache

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parents[1]
PLUGINS = ["plugins/sql", "plugins/redis", "plugins/dynamo", "plugins/s3", "plugins/server"]


def project(folder: str) -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("folder", PLUGINS)
def test_plugins_move_in_step_with_the_core(folder: str) -> None:
    meta = project(folder)
    assert meta["version"] == pkgcache.__version__
    [core] = [Requirement(r) for r in meta["dependencies"] if Requirement(r).name == "pkgcache"]
    assert core.specifier.contains(pkgcache.__version__)


def test_core_extras_pin_the_same_version() -> None:
    extras = project("core")["optional-dependencies"]
    for extra in ("sql", "redis", "dynamo", "s3", "server", "all"):
        for requirement in map(Requirement, extras[extra]):
            assert str(requirement.specifier) == f"=={pkgcache.__version__}", requirement
    everything = {"pkgcache-sql", "pkgcache-redis", "pkgcache-dynamo", "pkgcache-s3", "pkgcache-server"}
    assert {Requirement(r).name for r in extras["all"]} == everything


@pytest.mark.parametrize("folder", ["core", *PLUGINS])
def test_metadata_is_complete(folder: str) -> None:
    meta = project(folder)
    assert meta["license"] == "MIT" and (ROOT / folder / "LICENSE").is_file()
    assert (ROOT / folder / meta["readme"]).is_file()
    assert meta["requires-python"] == ">=3.10"
    assert any(re.match(r"Programming Language :: Python :: 3", c) for c in meta["classifiers"])
