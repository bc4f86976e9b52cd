"""Killed reloads and dead lock holders: SIGKILL at chosen points, then the next call is right.

The child process (``_reload_child``) stops inside the reload's transaction
right after a chosen statement and waits; the test kills it there with
SIGKILL, so every kill lands where it was meant to (no sleeps, no luck).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from pkgcache.testing import make_package
from pkgcache_sql import SQLCache

from .conftest import MARIADB_URL, POSTGRES_URL, require
from .test_sql_backend import sql_cache

ROOT = Path(__file__).resolve().parents[2]
FILES, PROJECTS = 2000, 100
LEASE = 2.0  # seconds: the SQLite lease of these tests, short so a takeover comes soon
#: the statements of a plain reload's transaction after which a kill lands
KILL_POINTS = [
    ("DELETE FROM pkgcache_projects", 1),
    ("INSERT INTO pkgcache_files", 3),
    ("INSERT INTO pkgcache_projects", 1),
]
KNOWN = {"pkgcache_files", "pkgcache_projects", "pkgcache_meta", "pkgcache_lock", "pkgcache_project_locks"}


@pytest.fixture
def short_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SQLCache, "lease_seconds", LEASE)


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    path = tmp_path / "storage"
    with sql_cache("sqlite://", path) as filler:
        for i in range(FILES):
            filler.storage.upload(make_package(f"crash{i % PROJECTS}", f"1.{i}"), b"x")
    return path


def pause_child(url: str, storage: Path, mode: str, marker: str, count: int) -> subprocess.Popen[str]:
    """A child running a reload, stopped right after the ``count``-th statement starting with ``marker``."""
    args = [sys.executable, "-m", "tests.sql._reload_child", url, str(storage), mode, marker, str(count), str(LEASE)]
    child = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = child.stdout.readline()
    if line != "paused\n":
        child.kill()
        pytest.fail(f"the child did not reach {marker!r} #{count}: {line!r}, exit {child.wait()}")
    return child


def kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    assert child.wait(60) == -signal.SIGKILL
    assert child.stdin is not None and child.stdout is not None
    child.stdin.close()
    child.stdout.close()


def tables(cache: SQLCache) -> set[str]:
    return set(inspect(cache.engine).get_table_names())


def contents(cache: SQLCache) -> dict[str, int]:
    return {name: len(cache.all(name)) for name in cache.distinct()}


def test_killed_plain_reload_leaves_nothing_behind(any_url: str, storage: Path) -> None:
    with sql_cache(any_url, storage) as cache:
        cache.clear_all()
        cache.save_many([make_package(f"old{i}", "1") for i in range(30)])
        before = contents(cache)
        for marker, count in KILL_POINTS:
            child = pause_child(any_url, storage, "reload", marker, count)
            kill(child)
            assert contents(cache) == before, f"after a kill at {marker} #{count}"  # rolled back, all of it
            assert tables(cache) <= KNOWN
        result = cache.reload_from_storage()
        assert result.added == FILES
        assert contents(cache) == {f"crash{i}": FILES // PROJECTS for i in range(PROJECTS)}
        assert tables(cache) <= KNOWN
        cache.clear_all()


def test_killed_reload_if_needed_is_taken_over_and_completed(any_url: str, storage: Path, short_lease: None) -> None:
    with sql_cache(any_url, storage) as cache:
        cache.clear_all()
        child = pause_child(any_url, storage, "if_needed", "INSERT INTO pkgcache_files", 2)
        try:
            with cache._reload_lock(0.5) as held:
                assert not held  # the child holds the reload lock right now: the two overlap
        finally:
            kill(child)
        assert cache.distinct() == []  # its rows were never committed
        result = cache.reload_if_needed(timeout=120)  # the dead holder's lock is free, or its lease expires
        assert result is not None and result.added == FILES
        assert len(cache.distinct()) == PROJECTS
        cache.clear_all()


def test_a_living_holder_keeps_its_sqlite_lease_beyond_the_lease_time(tmp_path: Path, short_lease: None) -> None:
    """Three lease lengths of waiting do not take the lease of a holder that renews it."""
    url = f"sqlite:///{tmp_path}/c.db"
    with sql_cache(url, tmp_path / "s") as holder, sql_cache(url, tmp_path / "s") as other:
        holder.distinct()
        with holder._reload_lock(5) as held:
            assert held
            with other._reload_lock(3 * LEASE) as taken:
                assert not taken
        with other._reload_lock(5) as taken:  # given back on exit: free at once
            assert taken


def test_sqlite_lease_of_a_killed_holder_is_taken_over(tmp_path: Path, short_lease: None) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    code = (
        "import sys, pkgcache_sql\n"
        f"pkgcache_sql.SQLCache.lease_seconds = {LEASE}\n"
        "from pkgcache import load_cache\n"
        f"c = load_cache({{'pypi.db': 'sql', 'db.url': {url!r}, 'storage.dir': {str(tmp_path / 's')!r}}}, environ={{}})\n"
        "with c._reload_lock(30) as held:\n"
        "    print('held' if held else 'not held', flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline() == "held\n"
    with sql_cache(url, tmp_path / "s") as cache:
        with cache._reload_lock(0.2) as held:
            assert not held  # the child holds it
        kill(child)
        with cache._reload_lock(60) as held:  # within the lease time after the kill, not the 60 s
            assert held


def test_mariadb_reload_locks_of_two_databases_do_not_block_each_other(tmp_path: Path) -> None:
    url = make_url(require(MARIADB_URL))
    admin = create_engine(url.set(drivername="mysql+pymysql"))
    with admin.begin() as conn:
        conn.execute(text("CREATE DATABASE IF NOT EXISTS test_sql2"))
    second = url.set(database="test_sql2").render_as_string(hide_password=False)
    try:
        with (
            sql_cache(url.render_as_string(hide_password=False), tmp_path) as one,
            sql_cache(url.render_as_string(hide_password=False), tmp_path) as same,
            sql_cache(second, tmp_path) as two,
            one._reload_lock(5) as held,
        ):
            assert held
            with same._reload_lock(0.3) as taken:
                assert not taken  # one database: one lock
            with two._reload_lock(0.3) as taken:
                assert taken  # another database on the same server: its own lock
    finally:
        with admin.begin() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS test_sql2"))
        admin.dispose()


def test_postgresql_reload_locks_of_two_schemas_do_not_block_each_other(tmp_path: Path) -> None:
    url = make_url(require(POSTGRES_URL))
    admin = create_engine(url.set(drivername="postgresql+psycopg"))
    with admin.begin() as conn:
        conn.execute(text("CREATE SCHEMA IF NOT EXISTS pkgcache_second"))
    second = url.update_query_dict({"options": "-csearch_path=pkgcache_second"}).render_as_string(hide_password=False)
    try:
        with sql_cache(url.render_as_string(hide_password=False), tmp_path) as one, sql_cache(second, tmp_path) as two:
            with one._reload_lock(5) as held:
                assert held
                with two._reload_lock(0.3) as taken:
                    assert taken
            assert "pkgcache_files" in inspect(admin).get_table_names(schema="pkgcache_second")
    finally:
        with admin.begin() as conn:
            conn.execute(text("DROP SCHEMA pkgcache_second CASCADE"))
        admin.dispose()
