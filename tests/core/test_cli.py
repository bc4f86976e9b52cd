"""The command line end to end, on the memory backend over a real storage.

``memory`` keeps nothing between two commands, so the read commands are
checked in one process with the cache filled as it is loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pkgcache.cli import cli
from pkgcache.testing import write_sdist, write_wheel

SAMPLE = Path(__file__).parents[2] / "examples" / "storage"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(__import__("os").environ):
        if name.startswith(("PKGCACHE_", "PPC_")):
            monkeypatch.delenv(name)
    storage = tmp_path / "storage"
    write_wheel(storage, "Demo_Pkg", "1.0", summary="Démo ✓")
    write_wheel(storage, "demo-pkg", "2.0", summary="Second")
    write_sdist(storage, "other", "0.1", summary="Other 100% thing")
    path = tmp_path / "pypi.ini"
    path.write_text(f"[app:main]\npypi.db = memory\nstorage.dir = {storage}\n")
    return path


def test_reload_prints_final_count(config: Path) -> None:
    result = CliRunner().invoke(cli, ["reload", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "plain reload: added 3, removed 0, updated 0, unchanged 0 in" in result.output


def test_reload_json(config: Path) -> None:
    result = CliRunner().invoke(cli, ["reload", "-c", str(config), "--graceful", "--format", "json"])
    data = json.loads(result.stdout)
    assert (data["added"], data["graceful"]) == (3, True)


def test_reads_after_reload_in_one_process(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pkgcache import _api

    real = _api.load_cache

    def loaded_and_filled(source: object = None, **kw: object) -> object:
        cache = real(source, **kw)  # type: ignore[arg-type]
        cache.reload_from_storage()
        return cache

    monkeypatch.setattr(_api, "load_cache", loaded_and_filled)
    run = CliRunner().invoke
    assert run(cli, ["list", "-c", str(config)]).output.split() == ["demo-pkg", "other"]
    shown = run(cli, ["show", "DEMO_pkg", "-c", str(config), "--format", "json"])
    assert [p["version"] for p in json.loads(shown.stdout)] == ["2.0", "1.0"]
    assert run(cli, ["show", "absent", "-c", str(config)]).exit_code == 1
    found = run(cli, ["search", "100%", "-c", str(config), "--format", "json"])
    assert [p["name"] for p in json.loads(found.stdout)] == ["other"]
    both = run(cli, ["search", "démo", "second", "--all-terms", "-c", str(config)])
    assert both.output == "demo-pkg\t2.0\tSecond\n"
    rows = json.loads(run(cli, ["summary", "-c", str(config), "--format", "json"]).stdout)
    assert [(r["name"], r["summary"]) for r in rows] == [("demo-pkg", "Second"), ("other", "Other 100% thing")]


def test_health_exit_codes(config: Path) -> None:
    storage = config.parent / "storage"
    result = CliRunner().invoke(cli, ["health", "-c", str(config)])
    assert (result.exit_code, result.output.strip()) == (0, f"healthy: ok; storage: folder '{storage}' is readable")
    storage.rename(config.parent / "moved")  # the volume went away: a reload would refuse it
    result = CliRunner().invoke(cli, ["health", "-c", str(config)])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"unhealthy: ok; storage: storage.dir '{storage}' cannot be read (No such file or directory): "
        "check the path and that its volume is mounted"
    )


def test_config_errors_exit_1_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ini"
    bad.write_text("[app:main]\npypi.db = nosuch\n")
    result = CliRunner().invoke(cli, ["list", "-c", str(bad)])
    assert result.exit_code == 1
    assert f"error: {bad}:2: pypi.db: unknown backend 'nosuch'" in result.output
    assert "Traceback" not in result.output


def test_without_a_config_the_error_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith(("PKGCACHE_", "PPC_")):
            monkeypatch.delenv(name)
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "note: no config file given: pass -c FILE or set PKGCACHE_CONFIG"
    given = Path(__file__).parent / "configs" / "bad" / "bad-bool.ini"
    assert given.exists()
    assert "no config file given" not in CliRunner().invoke(cli, ["list", "-c", str(given)]).stderr


def test_an_empty_cache_is_said_on_stderr_only(config: Path) -> None:
    for command in ("list", "summary"):
        result = CliRunner().invoke(cli, [command, "-c", str(config)])  # memory: empty in a new process
        assert (result.exit_code, result.stdout) == (0, "")
        assert result.stderr == "note: the cache is empty: `pkgcache reload` fills it from the storage\n"
        as_json = CliRunner().invoke(cli, [command, "-c", str(config), "--format", "json"])
        assert (json.loads(as_json.stdout), as_json.stderr) == ([], "")


def test_usage_error_exit_2() -> None:
    assert CliRunner().invoke(cli, ["reload", "--no-such-flag"]).exit_code == 2


def test_schema_and_backends_json() -> None:
    schema = json.loads(CliRunner().invoke(cli, ["schema", "memory"]).stdout)
    assert "db.graceful_reload" in schema["properties"]
    rows = json.loads(CliRunner().invoke(cli, ["backends", "--format", "json"]).stdout)
    assert {"kind": "storage", "name": "file"}.items() <= next(r for r in rows if r["name"] == "file").items()


def test_python_dash_m_runs_the_sample_storage(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[pkgcache]\n"pypi.db" = "memory"\n"storage.dir" = "{SAMPLE}"\n')
    out = subprocess.run(
        [sys.executable, "-m", "pkgcache", "reload", "-c", str(config)], capture_output=True, text=True, check=True
    )
    assert "added 13," in out.stdout


def test_starting_the_cli_imports_only_what_a_command_needs() -> None:
    """The command line starts on click alone; pydantic, pluggy, stevedore and packaging come with a command."""
    code = (
        "import sys, pkgcache, pkgcache.cli; "
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pydantic', 'pluggy', 'stevedore', 'packaging', 'sqlalchemy'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
