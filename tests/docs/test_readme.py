"""The README's install commands name folders and extras that exist in this checkout."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text("utf-8")


def install_section() -> str:
    start = README.index("Install what you use")
    return README[start : README.index("\n## ", start)]


def pip_arguments() -> list[str]:
    """Every argument of a ``pip install`` in the section's shell blocks (comments dropped)."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", install_section(), re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            while "install" in words:
                words = words[words.index("install") + 1 :]
                found += [w for w in words if not w.startswith("-") and w not in ("&&", "dist")]
    return found


def extras(folder: Path) -> set[str]:
    project = tomllib.loads((folder / "pyproject.toml").read_text("utf-8"))["project"]
    return set(project.get("optional-dependencies", {}))


def test_install_commands_use_the_checkout_and_existing_extras() -> None:
    arguments = pip_arguments()
    assert "./core" in arguments and "./plugins/sql" in arguments, arguments
    for argument in arguments:
        spec = re.fullmatch(r"(?P<path>\./[\w/.-]+|pkgcache)(?:\[(?P<extras>[\w,]+)\])?", argument)
        assert spec, f"the README installs {argument!r}, which is neither a checkout folder nor pkgcache[...]"
        folder = ROOT / "core" if spec["path"] == "pkgcache" else ROOT / spec["path"]
        assert (folder / "pyproject.toml").is_file(), f"{argument}: no distribution in {folder}"
        wanted = set(spec["extras"].split(",")) if spec["extras"] else set()
        assert wanted <= extras(folder), f"{argument}: extras {sorted(wanted - extras(folder))} do not exist"
    assert (ROOT / "tools" / "build_dists.py").is_file()


def test_published_names_are_named_as_such() -> None:
    """Names that only work once published are said to be so, not offered as commands."""
    section = install_section()
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        assert "pip install pkgcache-" not in block, block
    assert "Once published" in section
