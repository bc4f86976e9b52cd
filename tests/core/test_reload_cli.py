"""``pkgcache reload`` and ``validate`` against a wrong storage: exit 1 with one line, cache untouched.

The cache is SQLite in a file, so that what one command left is what the
next one (or the test) reads.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pkgcache import load_cache
from pkgcache.cli import cli
from pkgcache.testing._reload_safety import write_good_files

pytest.importorskip("pkgcache_sql")


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if not k.startswith(("PKGCACHE_", "PPC_"))})
    storage = tmp_path / "storage"
    storage.mkdir()
    write_good_files(storage)
    config = tmp_path / "pypi.ini"
    config.write_text(f"[app:main]\npypi.db = sql\ndb.url = sqlite:///{tmp_path}/cache.db\nstorage.dir = {storage}\n")
    return config, storage


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def _contents(config: Path) -> list[dict[str, Any]]:
    with load_cache(config, environ={}) as cache:
        return [p.to_dict() for n in cache.distinct() for p in cache.all(n)]


def _filled(config: Path) -> list[dict[str, Any]]:
    assert _run("reload", "-c", str(config)).exit_code == 0
    before = _contents(config)
    assert len(before) == 3
    return before


@pytest.mark.parametrize("mode", ["--plain", "--graceful"])
def test_missing_storage_exits_1_with_one_line(setup: tuple[Path, Path], mode: str) -> None:
    config, storage = setup
    before = _filled(config)
    storage.rename(storage.with_name("elsewhere"))
    result = _run("reload", "-c", str(config), mode, "--allow-empty")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: storage.dir {str(storage)!r} cannot be read (No such file or directory): "
        "check the path and that its volume is mounted"
    ]
    assert _contents(config) == before


def test_empty_storage_is_refused_unless_allowed(setup: tuple[Path, Path]) -> None:
    config, storage = setup
    before = _filled(config)
    shutil.rmtree(storage)
    storage.mkdir()
    result = _run("reload", "-c", str(config))
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: the storage lists 0 files while the cache holds 3:") and "--allow-empty" in line
    assert _contents(config) == before
    allowed = _run("reload", "-c", str(config), "--allow-empty")
    assert allowed.exit_code == 0 and "removed 3" in allowed.stdout
    assert _contents(config) == []


def test_max_delete_refuses_a_large_removal(setup: tuple[Path, Path]) -> None:
    config, storage = setup
    before = _filled(config)
    for path in storage.glob("flat_good-*"):
        path.unlink()
    result = _run("reload", "-c", str(config), "--max-delete", "50%")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: the reload would remove 2 of the cache's 3 files (the storage lists 1), more than "
        "max_delete=0.5; raise --max-delete or leave it out"
    ]
    assert _contents(config) == before
    assert _run("reload", "-c", str(config), "--max-delete", "0.7").exit_code == 0
    assert _run("reload", "-c", str(config), "--max-delete", "lots").exit_code == 2


def test_bad_files_are_each_reported_once_in_one_line(setup: tuple[Path, Path]) -> None:
    config, storage = setup
    (storage / "bad-1.0.tar.gz").write_bytes(b"not gzip")
    (storage / "bad-1.0.zip").write_bytes(b"not zip")
    (storage / "notes.txt").write_text("hello")
    laid = storage / "rotten" / "1.0"
    laid.mkdir(parents=True)
    (laid / "rotten-1.0-py3-none-any.whl").write_bytes(b"not a wheel")
    if hasattr(os, "mkfifo"):
        os.mkfifo(storage / "pipe-1.0.tar.gz")
    result = _run("reload", "-c", str(config))
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    skipped = [line for line in lines if line.startswith("skipped ")]
    assert sorted(Path(line.split(": ")[0].removeprefix("skipped ")).name for line in skipped) == sorted(
        ["bad-1.0.tar.gz", "bad-1.0.zip", "notes.txt"] + (["pipe-1.0.tar.gz"] if hasattr(os, "mkfifo") else [])
    )
    assert f"skipped {storage / 'bad-1.0.tar.gz'}: cannot read the archive: not a gzip file" in lines
    assert lines == [*skipped, f"warning: {laid / 'rotten-1.0-py3-none-any.whl'}: indexed without some metadata: "
                     "cannot read the archive: File is not a zip file"]  # fmt: skip
    assert f"({len(skipped)} files skipped, 1 indexed without some metadata)" in result.stdout
    assert len([p for p in _contents(config) if p["name"] == "rotten"]) == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [("%(here)s/pypi.ini", "exists and is not a folder"), ("/srv/pk\x00gs", "holds a NUL character")],
    ids=["regular-file", "nul"],
)
def test_validate_reports_a_storage_dir_that_cannot_be_a_folder(tmp_path: Path, value: str, message: str) -> None:
    config = tmp_path / "pypi.ini"
    config.write_text(f"[app:main]\npypi.db = memory\nstorage.dir = {value}\n")
    result = _run("validate", str(config))
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{config}:3: storage.dir: ") and message in line


def test_validate_reports_a_missing_storage_folder_that_load_settings_accepts(tmp_path: Path) -> None:
    """A reload would refuse the folder, so ``validate`` says so; loading the settings
    alone still works, since the first upload creates the folder."""
    from pkgcache import load_settings

    missing = tmp_path / "not-yet"
    config = tmp_path / "pypi.ini"
    config.write_text(f"[app:main]\npypi.db = memory\nstorage.dir = {missing}\n")
    result = CliRunner().invoke(cli, ["validate", str(config)])
    assert result.exit_code == 1
    assert f"{config}:3: storage.dir: folder '{missing}' does not exist" in result.output
    assert load_settings(config, environ={}).storage.dir == missing  # type: ignore[attr-defined]
    missing.mkdir()
    assert CliRunner().invoke(cli, ["validate", str(config)]).exit_code == 0
