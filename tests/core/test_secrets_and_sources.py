"""Secrets, the environment and rules between keys, through every backend's real settings.

- A password is masked whatever characters it holds, in every output:
  validate text and JSON, repr of Settings, ConfigError, CacheUnavailable,
  and SQLAlchemy's statement log (``db.echo``).
- The environment enters through ``load_settings(..., environ=...)`` only.
- Every broken rule of a backend is reported with every bad key, in one run.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from pkgcache import CacheUnavailable, ConfigError, load_cache, load_settings
from pkgcache.cli import cli
from tests.support import free_port

SECRET = "9secretQ"
RESERVED = ["/", "#", "?", "@", ":", "%"]


def password(char: str) -> str:
    return f"Zx{char}{SECRET}"


def outputs(tmp_path: Path, config: dict[str, str]) -> list[str]:
    """Everything pkgcache shows of a config: validate text and JSON, repr and str of Settings or the error."""
    ini = tmp_path / "pypi.ini"
    ini.write_text("[app:main]\n" + "".join(f"{k} = {v.replace('%', '%%')}\n" for k, v in config.items()))
    runner = CliRunner()
    shown = [runner.invoke(cli, ["validate", str(ini)]).output]
    shown.append(runner.invoke(cli, ["validate", "--format", "json", str(ini)]).output)
    try:
        settings = load_settings(config, environ={})
    except ConfigError as err:
        shown += [str(err), repr(err), json.dumps([p.as_dict() for p in err.problems])]
    else:
        shown += [
            repr(settings),
            str(settings),
            json.dumps(settings.public_dict()),
            repr(settings.db),
            str(settings.db),
        ]
    return shown


def assert_hidden(shown: list[str]) -> None:
    for text in shown:
        assert SECRET not in text, text
        assert quote(SECRET) not in text, text


def assert_unreachable_hides_it(config: dict[str, str]) -> None:
    """A closed loopback port: the CacheUnavailable message and the cache's repr hold no password."""
    with load_cache(config, environ={}) as cache, pytest.raises(CacheUnavailable) as info:
        cache.distinct()
    assert "127.0.0.1" in str(info.value)
    assert_hidden([str(info.value), repr(cache)])


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("PKGCACHE_", "PPC_")) and not name.startswith("PKGCACHE_TEST_"):
            monkeypatch.delenv(name)


# -- passwords ----------------------------------------------------------------------


@pytest.mark.parametrize("char", RESERVED)
def test_sql_password_is_masked_whatever_it_holds(tmp_path: Path, char: str) -> None:
    url = f"postgresql://alice:{password(char)}@127.0.0.1:{free_port()}/pkgs"
    config = {"pypi.db": "sql", "db.url": url, "storage.dir": str(tmp_path)}
    shown = outputs(tmp_path, config)
    assert_hidden(shown)
    assert_hidden(outputs(tmp_path, {**config, "db.pool_size": "0"}))  # an error beside the URL
    if char == "@":  # SQLAlchemy would take the rest of the password for the host
        assert "percent-encode the password" in shown[0]
        return
    assert "alice:***@127.0.0.1" in shown[1]
    assert_unreachable_hides_it(config)


@pytest.mark.parametrize("char", RESERVED)
def test_redis_password_is_masked_or_refused_with_advice(tmp_path: Path, char: str) -> None:
    raw = f"redis://alice:{password(char)}@127.0.0.1:{free_port()}/0"
    config = {"pypi.db": "redis", "db.url": raw, "storage.dir": str(tmp_path)}
    shown = outputs(tmp_path, config)
    assert_hidden(shown)
    if char in "/#?@":  # cannot be parsed: say how to encode it, without echoing it
        assert "percent-encode the password's reserved characters" in shown[0]
        assert "127.0.0.1" not in shown[0]
    encoded = {**config, "db.url": f"redis://alice:{quote(password(char), safe='')}@127.0.0.1:{free_port()}/0"}
    assert_hidden(outputs(tmp_path, encoded))
    assert_unreachable_hides_it(encoded)


@pytest.mark.parametrize("char", RESERVED)
def test_dynamo_secret_key_is_never_shown(tmp_path: Path, char: str) -> None:
    config = {
        "pypi.db": "dynamo",
        "db.host": "127.0.0.1",
        "db.port": str(free_port()),
        "db.access_key": "AKIDEXAMPLE",
        "db.secret_key": password(char),
        "storage.dir": str(tmp_path),
    }
    assert_hidden(outputs(tmp_path, config))
    assert_hidden(outputs(tmp_path, {**config, "db.tablenames": "x"}))
    assert_unreachable_hides_it(config)


def test_sql_statement_log_never_shows_the_password(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """db.echo logs every statement; the server (trust authentication) ignores the password."""
    server = make_url(os.environ.get("PKGCACHE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    from tests.support import require_sql as require

    require(server.render_as_string(hide_password=False))
    url = server.set(password=password("/")).render_as_string(hide_password=False)
    config = {"pypi.db": "sql", "db.url": url, "db.echo": "true", "storage.dir": str(tmp_path)}
    with caplog.at_level(logging.INFO, logger="sqlalchemy"), load_cache(config, environ={}) as cache:
        cache.distinct()
    assert "SELECT" in caplog.text
    assert_hidden([caplog.text])


# -- the environment ----------------------------------------------------------------


def test_environ_empty_ignores_the_process_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PKGCACHE_DB_URL", "postgresql://nobody@elsewhere/db")
    monkeypatch.setenv("PKGCACHE_DB_ECHO", "true")
    monkeypatch.setenv("PKGCACHE_DB_POOL_SIZE", "not a number")
    monkeypatch.setenv("PKGCACHE_STORAGE_DIR", "/from/the/environment")
    monkeypatch.setenv("PPC_DB_GRACEFUL_RELOAD", "true")
    settings = load_settings({"pypi.db": "sql", "db.url": "sqlite://", "storage.dir": str(tmp_path)}, environ={})
    assert settings.db.url.get_secret_value() == "sqlite://"  # type: ignore[attr-defined]
    assert (settings.db.echo, settings.db.pool_size, settings.db.graceful_reload) == (False, None, False)  # type: ignore[attr-defined]
    assert settings.storage.dir == tmp_path  # type: ignore[attr-defined]
    from pkgcache_sql import SQLSettings

    assert SQLSettings(url="sqlite://").echo is False  # a model built alone reads no environment either


def test_a_problem_from_the_environment_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PKGCACHE_DB_PORT", "80")  # the process environment is not the one given
    config = {"pypi.db": "dynamo", "db.host": "127.0.0.1", "storage.dir": "/srv"}
    assert load_settings(config, environ={}).db.port == 8000  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ={"PKGCACHE_DB_PORT": "eighty", "PPC_DB_SECRET_KEY": "s"})
    problems = {p.key: p for p in info.value.problems}
    assert problems["db.port"].file == "environment variable PKGCACHE_DB_PORT"
    assert problems["db.secret_key"].file == "environment variable PPC_DB_SECRET_KEY"
    assert str(problems["db.port"]).startswith("environment variable PKGCACHE_DB_PORT: db.port: ")


# -- every rule at once ---------------------------------------------------------------


def problems(config: dict[str, Any]) -> dict[str | None, str]:
    with pytest.raises(ConfigError) as info:
        load_settings({"storage.dir": "/srv", **config}, environ={})
    found = {p.key: p.message for p in info.value.problems}
    assert len(found) == len(info.value.problems), info.value
    return found


def test_dynamo_reports_bad_table_names_and_a_lonely_access_key() -> None:
    base = {"pypi.db": "dynamo", "db.region": "eu-west-1", "db.access_key": "AKIDEXAMPLE"}
    found = problems({**base, "db.tablenames": "only-one"})  # a field error, then the rules
    assert found.keys() == {"db.tablenames", "db.access_key"}
    assert found["db.tablenames"].startswith("give exactly two table names")
    assert "db.secret_key is missing" in found["db.access_key"]
    found = problems({**base, "db.tablenames": "ok-table x", "db.port": "0"})  # two rules and a field error
    assert found.keys() == {"db.tablenames", "db.access_key", "db.port"}
    assert found["db.tablenames"].startswith("table name 'x'")


def test_dynamo_every_rule_at_once() -> None:
    found = problems(
        {"pypi.db": "dynamo", "db.aws_secret_access_key": "s", "db.namespace": "bad name!", "db.secure": "maybe"}
    )
    assert found.keys() == {"db.region", "db.aws_secret_access_key", "db.namespace", "db.secure"}
    assert "db.access_key is missing" in found["db.aws_secret_access_key"]


def test_redis_cluster_rule_beside_a_bad_prefix() -> None:
    found = problems({"pypi.db": "redis", "db.url": "redis://h:6379/3", "db.clustered": "yes", "db.prefix": "{x}"})
    assert found.keys() == {"db.url", "db.prefix"}
    assert found["db.url"].startswith("Redis Cluster has only database 0 (db.clustered is on)")


def test_sql_pool_rules_beside_a_bad_flag() -> None:
    found = problems(
        {
            "pypi.db": "sql",
            "db.url": "sqlite:///x.db",
            "db.poolclass": "sqlalchemy.pool.NullPool",
            "db.pool_size": "5",
            "db.max_overflow": "2",
            "db.echo": "maybe",
        }
    )
    assert found.keys() == {"db.pool_size", "db.max_overflow", "db.echo"}
    assert found["db.pool_size"] == (
        "sqlalchemy.pool.NullPool takes no db.pool_size: drop it, or choose sqlalchemy.pool.QueuePool"
    )
    settings = load_settings(
        {
            "pypi.db": "sql",
            "db.url": "sqlite://",
            "db.poolclass": "sqlalchemy.pool:QueuePool",
            "db.pool_size": "5",
            "storage.dir": "/srv",
        },
        environ={},
    )
    assert settings.db.pool_size == 5  # type: ignore[attr-defined]


def test_a_rule_about_a_bad_key_is_not_judged_on_its_default() -> None:
    # db.secret_key is invalid (not a string): the pairing rule must not claim it is missing
    found = problems({"pypi.db": "dynamo", "db.region": "r", "db.access_key": "a", "db.secret_key": ["x"]})
    assert found.keys() == {"db.secret_key"}
