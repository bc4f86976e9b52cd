"""Errors name their cause: full, busy, too long, unreachable; never a password; no driver noise."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.engine import make_url

from pkgcache import CacheBusy, CacheFull, CacheUnavailable, InvalidPackage, Package, SearchTermTooLong
from pkgcache.testing import T0, make_package
from pkgcache_sql._errors import SQLITE_MAX_TERM
from pkgcache_sql._project_locks import lock_everything
from pkgcache_sql.settings import engine_url

from ..proxy import Proxy
from .conftest import MARIADB_URL, POSTGRES_URL, require
from .test_sql_backend import sql_cache


def test_sqlite_file_in_a_missing_folder_says_to_check_the_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no-such-folder/c.db"
    with pytest.raises(CacheUnavailable) as info, sql_cache(url, tmp_path) as cache:
        cache.distinct()
    assert str(info.value).startswith(f"sql backend cannot open the SQLite database {url}: ")
    assert str(info.value).endswith(": check that its folder exists and is writable")
    assert not (tmp_path / "no-such-folder").exists()


def test_sqlite_full_database_is_cache_full_and_loses_nothing(tmp_path: Path) -> None:
    with sql_cache(f"sqlite:///{tmp_path}/c.db", tmp_path) as cache:
        cache.save(make_package("kept", "1"))

        @event.listens_for(cache.engine, "connect")
        def cap(dbapi_connection: Any, _record: Any) -> None:  # a real SQLITE_FULL: no room beyond this
            pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 2}")

        cache.engine.dispose()
        big = [make_package(f"big{i}", "1", summary="x" * 20_000) for i in range(50)]
        with pytest.raises(CacheFull, match="database or disk is full"):
            cache.save_many(big)
        assert cache.distinct() == ["kept"]


def test_sqlite_search_term_limit(tmp_path: Path) -> None:
    with sql_cache(f"sqlite:///{tmp_path}/c.db", tmp_path) as cache:
        cache.save(make_package("p", "1"))
        with pytest.raises(SearchTermTooLong) as info:
            cache.search({"summary": "x" * (SQLITE_MAX_TERM + 1)})
        assert str(info.value) == f"search term too long: at most {SQLITE_MAX_TERM} characters"
        # the longest allowed term is taken, even of escaped wildcards or 4-byte characters
        for term in ("%" * SQLITE_MAX_TERM, "\U0001d518" * SQLITE_MAX_TERM):
            assert cache.search({"name": term, "summary": term}, "or") == []


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_over_size_value_is_a_clear_error(server: str, tmp_path: Path) -> None:
    url = require(POSTGRES_URL if server == "postgresql" else MARIADB_URL)
    # Package refuses such a name itself (255 characters at most); restore skips that check,
    # as a third-party caller bypassing the model could, so the column's own limit is met
    oversize = Package.restore("n" * 300, "1", "n-1.tar.gz", T0, None, {})
    with sql_cache(url, tmp_path) as cache, pytest.raises(InvalidPackage, match="longer than its column allows"):
        cache.save(oversize)


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_lock_timeouts_that_outlast_the_retries_are_cache_busy(server: str, tmp_path: Path) -> None:
    """A write that keeps waiting on a lock another transaction holds gives up as CacheBusy."""
    base = make_url(require(POSTGRES_URL if server == "postgresql" else MARIADB_URL))
    if server == "postgresql":  # the server must give up waiting quickly, not the test
        # the test server trusts loopback and ignores the password; it must still never show
        url = base.set(password="s3cret-pw").update_query_dict({"options": "-c lock_timeout=100"})
    else:
        url = base.update_query_dict({"init_command": "SET innodb_lock_wait_timeout = 1"})
    with sql_cache(url.render_as_string(hide_password=False), tmp_path) as cache:
        cache.save(make_package("busy", "1"))
        blocker = create_engine(engine_url(str(base)))
        try:
            with blocker.connect() as conn, conn.begin():
                lock_everything(conn, cache._scope)  # as a plain reload does, and keeps it
                with pytest.raises(CacheBusy) as info:
                    cache.save(make_package("busy", "2"))
            message = str(info.value)
            assert f"after {cache.WRITE_ATTEMPTS} attempts" in message and "s3cret" not in message
        finally:
            blocker.dispose()
        assert [p.version for p in cache.all("busy")] == ["1"]
        cache.clear_all()


def test_lost_postgresql_connection_mid_batch_prints_no_driver_noise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """psycopg's "error ignored terminating <psycopg.Pipeline [BAD]>" does not reach the user."""
    url = make_url(require(POSTGRES_URL))
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    cache = sql_cache(url.set(port=proxy.port).render_as_string(hide_password=False), tmp_path)
    try:
        cache.distinct()
        cut = threading.Event()

        @event.listens_for(cache.engine, "before_cursor_execute")
        def lose_server(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.startswith("INSERT INTO pkgcache_files") and not cut.is_set():
                cut.set()
                proxy.stop()

        with caplog.at_level(logging.DEBUG), pytest.raises(CacheUnavailable):
            cache.save_many([make_package(f"p{i % 50}", f"1.{i}") for i in range(3000)])
        assert cut.is_set()
        assert not [r for r in caplog.records if "Pipeline" in r.getMessage()]
        assert "Pipeline" not in capfd.readouterr().err
    finally:
        proxy.stop()
        cache.close()


def test_reaching_no_server_is_still_cache_unavailable(tmp_path: Path) -> None:
    with sql_cache(f"mysql://root:pw@127.0.0.1:{Proxy('127.0.0.1', 1).port}/x?charset=utf8mb4", tmp_path) as cache:
        with pytest.raises(CacheUnavailable, match="cannot reach") as info:
            cache.distinct()
        assert ":pw@" not in str(info.value)
