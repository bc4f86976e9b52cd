"""Commands import only what they need: guards on the modules a fresh interpreter loads.

``pkgcache validate`` on a SQL config checks ``db.url`` without SQLAlchemy or a
driver (SQLAlchemy's import alone costs more CPU than the rest of the command),
and ``pkgcache list`` on SQLite loads SQLAlchemy Core with the SQLite dialect
only. These check ``sys.modules`` after a real run, never a time. The light URL
reader they rely on is held equal to SQLAlchemy's own on generated URLs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.schema import CreateTable

from pkgcache import load_cache
from pkgcache_sql import schema
from pkgcache_sql._url import DIALECT_DRIVERS, parse
from pkgcache_sql.settings import check_url, check_url_with_sqlalchemy

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "sqlite.ini"

#: run a pkgcache command in this interpreter, then write the names of the loaded modules
RUN_AND_LIST_MODULES = """
import json, sys
from pkgcache.cli import cli
out, args = sys.argv[1], sys.argv[2:]
try:
    cli.main(args, prog_name="pkgcache")
except SystemExit as exit:
    code = exit.code
with open(out, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""

DRIVERS = ("psycopg", "psycopg2", "pymysql", "MySQLdb", "pg8000", "asyncpg", "aiosqlite")


def modules_after(tmp_path: Path, *args: str) -> set[str]:
    """The modules a fresh ``pkgcache ARGS`` has loaded when it ends (it must exit 0)."""
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PKGCACHE_", "PPC_"))}
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, str(out), *args], capture_output=True, text=True, env=env
    )
    found = json.loads(out.read_text())
    assert found["code"] == 0, result.stdout + result.stderr
    return set(found["modules"])


def of(package: str, modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m == package or m.startswith(package + "."))


def test_validate_of_the_sqlite_example_imports_no_sqlalchemy(tmp_path: Path) -> None:
    loaded = modules_after(tmp_path, "validate", str(EXAMPLE))
    assert "pkgcache_sql.settings" in loaded  # the check ran
    assert of("sqlalchemy", loaded) == []
    assert "pkgcache_sql.cache" not in loaded
    assert [d for d in DRIVERS if d in loaded] == []


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:pw@db.example/pkgs", "mysql://u:pw@db.example/pkgs?charset=utf8mb4", "sqlite:///cache.db"],
)
def test_validate_imports_neither_sqlalchemy_nor_the_driver(tmp_path: Path, url: str) -> None:
    config = tmp_path / "c.ini"
    config.write_text(f"[app:main]\npypi.db = sql\ndb.url = {url}\nstorage.dir = {tmp_path}\n")
    loaded = modules_after(tmp_path, "validate", str(config))
    assert of("sqlalchemy", loaded) == []
    assert [d for d in (*DRIVERS, "sqlite3") if d in loaded] == []


def test_list_on_sqlite_imports_sqlalchemy_core_and_the_sqlite_dialect_only(tmp_path: Path) -> None:
    config = tmp_path / "c.ini"
    config.write_text(f"[app:main]\npypi.db = sql\ndb.url = sqlite:///{tmp_path}/c.db\nstorage.dir = {tmp_path}\n")
    loaded = modules_after(tmp_path, "list", "-c", str(config))
    assert "sqlalchemy.dialects.sqlite" in loaded
    for unused in ("sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.mysql", "sqlalchemy.orm", "sqlalchemy.ext"):
        assert of(unused, loaded) == [], unused
    assert [d for d in DRIVERS if d in loaded] == []
    assert of("boto3", loaded) == of("redis", loaded) == []


def test_mysql_tables_still_get_their_charset(tmp_path: Path) -> None:
    """The table charset is set when the cache's engine is MySQL, not at import (see schema.use_dialect)."""
    url = "mysql://u@db.example/pkgs?charset=utf8mb4"
    with load_cache({"pypi.db": "sql", "db.url": url, "storage.dir": str(tmp_path)}, environ={}) as cache:
        dialect = cache.engine.dialect  # no connection made: the engine connects on first use
        for table in (schema.files, schema.projects, schema.project_locks):
            assert str(CreateTable(table).compile(dialect=dialect)).rstrip().endswith("CHARSET=utf8mb4")
        ddl = str(CreateTable(schema.files).compile(dialect=mysql.dialect()))
        assert "sort_key VARCHAR(768) CHARACTER SET ascii COLLATE ascii_bin NOT NULL" in ddl
        assert "last_modified DATETIME(6) NOT NULL" in ddl
        assert "data MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL" in ddl


# -- the light URL reader against SQLAlchemy's ------------------------------------
def sqlalchemy_parts(url: str) -> tuple[object, ...]:
    u = make_url(url)
    return (u.drivername, u.username, u.password, u.host, u.port, u.database, dict(u.query))


def light_parts(url: str) -> tuple[object, ...]:
    u = parse(url)
    return (u.drivername, u.username, u.password, u.host, u.port, u.database, u.query)


def same_outcome(url: str) -> None:
    try:
        expected: object = sqlalchemy_parts(url)
    except (ArgumentError, ValueError) as err:
        expected = type(err) if isinstance(err, ArgumentError) else ValueError
    try:
        found: object = light_parts(url)
    except ValueError:
        found = ValueError
    if expected is ArgumentError:  # the light reader says ValueError where make_url says ArgumentError
        expected = ValueError
    assert found == expected, url


URL_TEXT = st.text(alphabet="ab1_+:/@?#[]&=%.; -\u00e9\U0001f600\n", max_size=30)
SCHEMES = st.sampled_from(["sqlite", "postgresql", "mysql+pymysql", "a_b", "x+y+z", "", "é", "PG"])


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(URL_TEXT, st.builds(lambda s, rest: f"{s}://{rest}", SCHEMES, URL_TEXT)))
def test_urls_are_read_as_sqlalchemy_reads_them(url: str) -> None:
    same_outcome(url)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///",
        "sqlite:////abs/path.db",
        "sqlite://h:/x",  # an empty port is an error in make_url too
        "sqlite://h: 5/x",
        "x://[::1]:5/d?a=1&a=2&a=3&b=",
        "postgresql://u:p%40ss@h:5432/d%2Fb?sslmode=require",
        "postgresql://u:pa/ss@h/db",
        "not a url",
    ],
)
def test_tricky_urls_are_read_as_sqlalchemy_reads_them(url: str) -> None:
    same_outcome(url)


def outcome(check: object, url: str) -> str | None:
    try:
        check(url, url)  # type: ignore[operator]
    except ValueError as err:
        return str(err)
    return None


CHECKED_URLS = [
    *(f"{d}://u:pw@h/db?charset=utf8mb4" for d in DIALECT_DRIVERS),
    *(f"{d}://u:pw@h/db" for d in DIALECT_DRIVERS),
    "sqlite://",
    "sqlite:///x.db",
    "postgresql://u:pw@h/db",
    "postgresql://u:pw@h:notaport/db",
    "postgresql://u:p@ss@h/db",
    "postgresql://u:pa/ss@h/db",
    "mysql://u@h/db",
    "mariadb://u@h/db?charset=utf8mb4",
    "mysql+mysqlconnector://u@h/db",  # not in the table: SQLAlchemy checks it
    "nosuchdialect://h/db",
    "not a url",
]


@pytest.mark.parametrize("url", CHECKED_URLS)
def test_url_check_says_what_sqlalchemys_says(url: str) -> None:
    assert outcome(check_url, url) == outcome(check_url_with_sqlalchemy, url)


@pytest.mark.parametrize("drivername", sorted(DIALECT_DRIVERS))
def test_driver_table_matches_sqlalchemy(drivername: str) -> None:
    """Each entry names a dialect SQLAlchemy has, its driver's name, and the modules it imports."""
    driver, modules = DIALECT_DRIVERS[drivername]
    try:
        dialect = make_url(f"{drivername}://").get_dialect()
    except NoSuchModuleError:
        pytest.fail(f"SQLAlchemy has no dialect {drivername!r}")
    assert dialect.driver == driver
    missing = next((m for m in modules if importlib.util.find_spec(m) is None), None)
    if missing is None:
        dialect.import_dbapi()
    else:
        with pytest.raises(ImportError) as info:
            dialect.import_dbapi()
        assert info.value.name == missing
