"""Plugins build on public names only: ``pkgcache`` and ``pkgcache.plugin``, never a private module
or a private attribute of core, so that core can move its internals without breaking them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pkgcache.plugin

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for folder in ("plugins", "examples") for p in (ROOT / folder).glob("*/src/**/*.py"))


def private_uses(tree: ast.AST) -> list[str]:
    """Every import of a private core module or name, and every ``pkgcache._x`` attribute."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pkgcache":
            parts = node.module.split(".")[1:] + [alias.name for alias in node.names]
            found += [
                f"line {node.lineno}: from {node.module} import {a.name}"
                for a in node.names
                if any(p.startswith("_") for p in parts) and not a.name.startswith("__")
            ]
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {a.name}"
                for a in node.names
                if a.name.startswith("pkgcache.") and any(p.startswith("_") for p in a.name.split(".")[1:])
            ]
    return found


def test_the_scan_sees_plugins_and_a_private_import() -> None:
    assert len(SOURCES) > 20
    assert private_uses(ast.parse("from pkgcache._lease import hold_lease\nimport pkgcache._reload\n")) == [
        "line 1: from pkgcache._lease import hold_lease",
        "line 2: import pkgcache._reload",
    ]
    assert private_uses(ast.parse("from pkgcache.plugin import hold_lease\nfrom pkgcache import Cache\n")) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugin_imports_only_public_names(path: Path) -> None:
    assert private_uses(ast.parse(path.read_text(encoding="utf-8"))) == []


def test_every_public_plugin_name_resolves() -> None:
    missing = [name for name in pkgcache.plugin.__all__ if not hasattr(pkgcache.plugin, name)]
    assert missing == []
