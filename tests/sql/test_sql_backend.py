"""What the SQL backend promises beyond the kit: settings, transactions, locks, faults, bulk writes."""

from __future__ import annotations

import importlib.util
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, inspect, text, update
from sqlalchemy.engine import make_url

from pkgcache import CacheUnavailable, ConfigError, PkgcacheError, load_cache, load_settings
from pkgcache.testing import make_package
from pkgcache.testing._overlap import ReloadGate, assert_one_reloaded_while_others_called
from pkgcache_sql import SQLCache
from pkgcache_sql.schema import meta

from ..proxy import Proxy
from .conftest import MARIADB_URL, POSTGRES_URL, require


def sql_cache(url: str, storage: Path, **keys: Any) -> SQLCache:
    cache = load_cache({"pypi.db": "sql", "db.url": url, "storage.dir": str(storage), **keys}, environ={})
    assert isinstance(cache, SQLCache)
    return cache


# -- settings ------------------------------------------------------------------
def test_mysql_url_needs_charset() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"db.url": "mysql://root@127.0.0.1/test", "storage.dir": "/x"}, environ={})
    assert str(info.value) == "db.url: a mysql URL needs a charset for 4-byte Unicode: add ?charset=utf8mb4"


@pytest.mark.skipif(importlib.util.find_spec("psycopg2") is not None, reason="psycopg2 is installed here")
def test_missing_driver_names_the_extra() -> None:
    with pytest.raises(ConfigError, match=r"pip install 'pkgcache-sql\[postgresql\]'"):
        load_settings({"db.url": "postgresql+psycopg2://u:pw@h/db", "storage.dir": "/x"}, environ={})


def test_poolclass_is_checked_and_used(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"try sqlalchemy\.pool\.NullPool"):
        load_settings({"db.url": "sqlite://", "db.poolclass": "os.path", "storage.dir": "/x"}, environ={})
    with sql_cache(f"sqlite:///{tmp_path}/c.db", tmp_path, **{"db.poolclass": "sqlalchemy.pool.NullPool"}) as cache:
        assert type(cache.engine.pool).__name__ == "NullPool"
        assert cache.check_health()[0]


def test_bad_url_is_one_clear_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"db.url": "not a url", "storage.dir": "/x"}, environ={})
    assert "is not a SQLAlchemy URL" in str(info.value)


# -- faults ------------------------------------------------------------------
def test_unreachable_server_is_cache_unavailable_without_password(tmp_path: Path) -> None:
    proxy = Proxy("127.0.0.1", 5432)  # never started: nothing listens on its port
    url = f"postgresql://alice:s3cret-pw@127.0.0.1:{proxy.port}/test"
    cache = sql_cache(url, tmp_path)
    started = time.monotonic()
    with pytest.raises(CacheUnavailable) as info:
        cache.distinct()
    assert time.monotonic() - started < 5
    assert "s3cret" not in str(info.value) and f"127.0.0.1:{proxy.port}" in str(info.value)
    ok, message = cache.check_health()
    assert not ok and "s3cret" not in message and "***" in message
    assert "s3cret" not in repr(cache)


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_server_loss_and_return(server: str, tmp_path: Path) -> None:
    url = make_url(require(POSTGRES_URL if server == "postgresql" else MARIADB_URL))
    proxy = Proxy(url.host or "127.0.0.1", url.port or (5432 if server == "postgresql" else 3306))
    proxy.start()
    cache = sql_cache(url.set(port=proxy.port).render_as_string(hide_password=False), tmp_path)
    try:
        cache.clear_all()
        cache.save(make_package("fault", "1"))
        proxy.stop()
        with pytest.raises(CacheUnavailable):
            cache.all("fault")
        assert cache.check_health()[0] is False
        proxy.start()
        assert [p.version for p in cache.all("fault")] == ["1"]  # a dropped pooled connection: read again
        assert cache.check_health()[0] is True
        assert cache.settings.pool_pre_ping is False  # no ping per call: the calls themselves recover
        for recover in (lambda: cache.save(make_package("fault", "2")), cache.reload_if_needed):
            proxy.stop()  # every pooled connection dies with it
            proxy.start()
            recover()
        assert [p.version for p in cache.all("fault")] == ["2", "1"]
        cache.clear_all()
    finally:
        proxy.stop()
        cache.close()


# -- transactions -------------------------------------------------------------
@pytest.mark.parametrize("server", ["sqlite", "postgresql", "mariadb"])
def test_plain_reload_is_one_transaction(server: str, tmp_path: Path) -> None:
    """A reader on another connection sees the old contents until the reload commits."""
    url = {
        "sqlite": f"sqlite:///{tmp_path}/c.db",
        "postgresql": POSTGRES_URL,
        "mariadb": MARIADB_URL,
    }[server]
    storage = tmp_path / "storage"
    writer, reader = sql_cache(require(url) if server != "sqlite" else url, storage), None
    try:
        writer.clear_all()
        writer.save(make_package("old-project", "1"))
        for i in range(50):
            writer.storage.upload(make_package(f"new{i}", "1"), b"x")
        reader = sql_cache(url, storage)
        inserted, go = threading.Event(), threading.Event()

        @event.listens_for(writer.engine, "after_cursor_execute")
        def pause(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.startswith("INSERT INTO pkgcache_files") and not inserted.is_set():
                inserted.set()
                go.wait(30)

        thread = threading.Thread(target=writer.reload_from_storage)
        thread.start()
        assert inserted.wait(30)
        try:
            assert reader.distinct() == ["old-project"]  # not empty, not half-built
            assert thread.is_alive() and not go.is_set()  # read while the reload was inside its transaction
        finally:
            go.set()
            thread.join()
        assert len(reader.distinct()) == 50 and "old-project" not in reader.distinct()
        writer.clear_all()
    finally:
        writer.close()
        if reader is not None:
            reader.close()


def _call_reload_if_needed(config: dict[str, Any], barrier: Any, gate: ReloadGate, results: Any) -> None:
    cache = load_cache(config, environ={})
    cache.distinct()  # connected, schema checked: the calls below start together
    barrier.wait()
    cache.reload_from_storage = gate.held(cache.reload_from_storage)
    results.put(gate.reload_if_needed(cache))
    cache.close()


def test_reload_if_needed_from_four_processes_fills_once(any_url: str, tmp_path: Path) -> None:
    """Exactly one of four processes reloads, and (proved by their times) the others asked while it did."""
    storage = tmp_path / "storage"
    with sql_cache(any_url, storage) as cache:
        for i in range(1000):
            cache.storage.upload(make_package(f"p{i % 40}", f"1.{i}"), b"x")
        cache.clear_all()
    config = {"pypi.db": "sql", "db.url": any_url, "storage.dir": str(storage)}
    ctx = multiprocessing.get_context("spawn")
    barrier, gate, results = ctx.Barrier(4), ReloadGate(4, ctx), ctx.Queue()
    workers = [ctx.Process(target=_call_reload_if_needed, args=(config, barrier, gate, results)) for _ in range(4)]
    for w in workers:
        w.start()
    calls = [results.get(timeout=180) for _ in workers]
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0] * 4
    assert_one_reloaded_while_others_called(calls)
    with sql_cache(any_url, storage) as cache:
        assert len(cache.distinct()) == 40
        cache.clear_all()


# -- bulk writes and schema -------------------------------------------------------
def test_save_many_writes_in_bulk(any_url: str, tmp_path: Path) -> None:
    with sql_cache(any_url, tmp_path) as cache:
        cache.clear_all()
        inserts: list[str] = []

        @event.listens_for(cache.engine, "before_cursor_execute")
        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.startswith("INSERT INTO pkgcache_files"):
                inserts.append(statement)

        cache.save_many([make_package(f"bulk{i % 50}", f"1.{i}") for i in range(2000)])
        assert 1 <= len(inserts) <= 3  # one executemany, or a few multi-row batches
        assert sum(len(cache.all(n)) for n in cache.distinct()) == 2000
        cache.clear_all()


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    with sql_cache(url, tmp_path) as cache:
        cache.distinct()
        with cache.engine.begin() as conn:
            conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="99"))
    with sql_cache(url, tmp_path) as cache, pytest.raises(PkgcacheError, match="upgrade pkgcache-sql"):
        cache.distinct()


def test_an_older_schema_version_is_refused_with_what_to_do(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    with sql_cache(url, tmp_path) as cache:
        cache.save(make_package("kept", "1.0"))
        with cache.engine.begin() as conn:
            conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="1"))
    with sql_cache(url, tmp_path) as cache, pytest.raises(PkgcacheError, match=r"drop its pkgcache_\* tables"):
        cache.distinct()


# -- the live tables keep their identity across a plain reload ------------------------
_REPORTER = "pkgcache_reporter_sql"


def _grants(server: str, conn: Any) -> list[Any]:
    if server == "postgresql":
        query = (
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            f"WHERE grantee = '{_REPORTER}' ORDER BY table_name"
        )
    else:
        query = (
            "SELECT Table_name, Table_priv FROM mysql.tables_priv "
            f"WHERE User = '{_REPORTER}' AND Db = DATABASE() ORDER BY Table_name"
        )
    return [tuple(r) for r in conn.execute(text(query)).all()]


def _identity(server: str, cache: SQLCache) -> dict[str, Any]:
    """Index, key and constraint names, and what tells one table from another of the same name."""
    found: dict[str, Any] = {}
    with cache.engine.connect() as conn:
        check = inspect(conn)
        for table in ("pkgcache_files", "pkgcache_projects"):
            found[table] = (
                sorted(i["name"] or "" for i in check.get_indexes(table)),
                check.get_pk_constraint(table)["name"],
            )
        if server == "postgresql":
            found["oids"] = conn.execute(
                text("SELECT 'pkgcache_files'::regclass::oid, 'pkgcache_projects'::regclass::oid")
            ).one()
        else:
            found["created"] = conn.execute(
                text(
                    "SELECT TABLE_NAME, CREATE_TIME FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'pkgcache%' ORDER BY TABLE_NAME"
                )
            ).all()
    return found


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_plain_reload_keeps_grants_and_index_names(server: str, tmp_path: Path) -> None:
    url = require(POSTGRES_URL if server == "postgresql" else MARIADB_URL)
    with sql_cache(url, tmp_path) as cache:
        cache.clear_all()
        cache.save(make_package("before", "1"))
        for i in range(20):
            cache.storage.upload(make_package(f"after{i}", "1"), b"x")
        with cache.engine.begin() as conn:
            if server == "postgresql":
                conn.execute(
                    text(
                        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{_REPORTER}') "
                        f"THEN CREATE ROLE {_REPORTER}; END IF; END $$"
                    )
                )
            else:
                conn.execute(text(f"CREATE USER IF NOT EXISTS '{_REPORTER}'@'localhost'"))
            target = _REPORTER if server == "postgresql" else f"'{_REPORTER}'@'localhost'"
            conn.execute(text(f"GRANT SELECT ON pkgcache_files TO {target}"))
            conn.execute(text(f"GRANT SELECT ON pkgcache_projects TO {target}"))
            grants = _grants(server, conn)
        assert len(grants) == 2
        identity = _identity(server, cache)
        try:
            cache.reload_from_storage()
            assert len(cache.distinct()) == 20 and "before" not in cache.distinct()
            with cache.engine.begin() as conn:
                assert _grants(server, conn) == grants
            assert _identity(server, cache) == identity
        finally:
            with cache.engine.begin() as conn:
                if server == "postgresql":
                    conn.execute(text(f"REVOKE ALL ON pkgcache_files, pkgcache_projects FROM {_REPORTER}"))
                    conn.execute(text(f"DROP ROLE {_REPORTER}"))
                else:
                    conn.execute(text(f"DROP USER '{_REPORTER}'@'localhost'"))
            cache.clear_all()


# -- search by casefold, and the schema migration that brought it ------------------------
def test_names_are_searched_by_casefold(any_url: str, tmp_path: Path) -> None:
    with sql_cache(any_url, tmp_path) as cache:
        cache.clear_all()
        cache.save_many([make_package("straße", "1"), make_package("strasse-x", "1"), make_package("other", "1")])
        assert [p.name for p in cache.search({"name": "STRASSE"})] == ["strasse-x", "straße"]
        assert [p.name for p in cache.search({"name": "straß"})] == ["strasse-x", "straße"]
        cache.clear_all()
