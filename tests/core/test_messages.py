"""Messages a newcomer meets first: a mistyped key is one line, validate says it reads
files only, and install advice fits the install at hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import pkgcache.registry as registry
from pkgcache.cli import cli

ROOT = Path(__file__).parents[2]


def test_a_mistyped_key_is_one_line_with_its_line_number(tmp_path: Path) -> None:
    config = tmp_path / "pypi.ini"
    config.write_text(f"[app:main]\npypi.db = memory\nstorage.dri = {tmp_path}\n")
    result = CliRunner().invoke(cli, ["validate", str(config)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"{config}:3: storage.dri: unknown key for storage 'file': did you mean 'storage.dir'?"
    ]


def test_validate_says_it_reads_files_only(tmp_path: Path) -> None:
    config = tmp_path / "pypi.ini"
    config.write_text(f"[app:main]\npypi.db = memory\nstorage.dir = {tmp_path}\n")
    result = CliRunner().invoke(cli, ["validate", str(config)])
    assert result.exit_code == 0 and f"`pkgcache health -c {config}` connects" in result.output
    assert "pkgcache health" in CliRunner().invoke(cli, ["validate", "--help"]).output


def test_install_advice_names_the_plugin_folder_of_a_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_checkout", lambda: ROOT)
    assert registry.install_advice("pkgcache-redis") == f"pip install {ROOT / 'plugins' / 'redis'}"
    assert registry.install_advice("pkgcache-imaginary") == "pip install pkgcache-imaginary"
    monkeypatch.setattr(registry, "_checkout", lambda: None)
    assert registry.install_advice("pkgcache-redis") == "pip install pkgcache-redis"


def test_this_checkout_is_read_from_direct_url() -> None:
    """The suite's own install is ``pip install -e ./core`` (PEP 610 records the folder)."""
    checkout = subprocess.run(
        [sys.executable, "-c", "import pkgcache.registry as r; print(r._checkout())"], capture_output=True, text=True
    ).stdout.strip()
    assert Path(checkout).resolve() == ROOT.resolve()
