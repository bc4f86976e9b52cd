"""``pkgcache validate`` on a corpus of good and bad config files kept beside this test.

Each bad file lists, in ``# expect:`` comment lines, output lines that
``validate`` must print (as substrings, with the file's own name as the
path); each good file must validate with exit code 0.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pkgcache.cli import cli

CONFIGS = Path(__file__).parent / "configs"
GOOD = sorted((CONFIGS / "good").iterdir())
BAD = sorted((CONFIGS / "bad").iterdir())


def expectations(path: Path) -> list[str]:
    lines = path.read_text("utf-8").splitlines()
    return [line.split("# expect:", 1)[1].strip() for line in lines if "# expect:" in line]


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in list(__import__("os").environ):
        if name.startswith(("PKGCACHE_", "PPC_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(CONFIGS / "bad")
    return CliRunner()


@pytest.mark.parametrize("path", GOOD, ids=[p.name for p in GOOD])
def test_good_configs_validate(runner: CliRunner, path: Path) -> None:
    result = runner.invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}: ok" in result.output


@pytest.mark.parametrize("path", BAD, ids=[p.name for p in BAD])
def test_bad_configs_report_every_problem(runner: CliRunner, path: Path) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} has no '# expect:' line"
    result = runner.invoke(cli, ["validate", path.name])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    for line in expected:
        assert line in result.output, f"{line!r} not in:\n{result.output}"


def test_several_files_at_once_and_json(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", "--format", "json", str(GOOD[0]), "unknown-key.ini"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [r["valid"] for r in report] == [True, False]
    assert report[1]["problems"][0] == {
        "key": "db.graceful_relaod",
        "message": "unknown key for backend 'memory': did you mean 'db.graceful_reload'?",
        "file": "unknown-key.ini",
        "line": 5,
    }


def test_missing_file_is_one_line_and_exit_1(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", "nowhere.ini"])
    assert result.exit_code == 1
    assert result.output.strip() == "nowhere.ini: no such file; give the path of an INI or TOML config file"


def test_no_file_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate"])
    assert result.exit_code == 2
    assert "give the config files to check" in result.output


def test_validate_takes_c_as_the_other_commands_do(runner: CliRunner) -> None:
    """``-c FILE`` as for reload or list; files given both ways are all checked."""
    result = runner.invoke(cli, ["validate", "-c", str(GOOD[0]), "--config", "unknown-key.ini", str(GOOD[1])])
    assert result.exit_code == 1
    assert result.output.count(": ok (backend") == 2
    assert "unknown-key.ini" in result.output


def test_here_is_the_config_folder(tmp_path: Path) -> None:
    from pkgcache import load_settings

    config = tmp_path / "pypi.ini"
    config.write_text("[app:main]\npypi.db = memory\nstorage.dir = %(here)s/packages\n")
    assert load_settings(config, environ={}).storage.dir == tmp_path / "packages"  # type: ignore[attr-defined]


MALFORMED = [p for p in BAD if any("malformed" in line for line in expectations(p))]


@pytest.mark.parametrize("path", MALFORMED, ids=[p.name for p in MALFORMED])
def test_a_malformed_file_is_one_line_with_its_line_number(runner: CliRunner, path: Path) -> None:
    result = runner.invoke(cli, ["validate", path.name])
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert re.match(rf"{re.escape(path.name)}:\d+: malformed (INI|TOML) file: ", line), line


def test_interpolation_errors_never_echo_the_value(runner: CliRunner) -> None:
    for fmt in ("text", "json"):
        result = runner.invoke(cli, ["validate", "--format", fmt, "interpolation-percent.ini"])
        assert result.exit_code == 1
        assert "p%40ss" not in result.output and "40ss" not in result.output
