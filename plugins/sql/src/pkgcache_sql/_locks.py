"""The cross-process reload lock, with each database's own primitive.

PostgreSQL: a session advisory lock; MySQL/MariaDB: ``GET_LOCK``. Both are
freed by the server the moment their session ends, so a killed holder
stalls no one. Their names are scoped to the database (MariaDB's
``GET_LOCK`` names are server-wide; PostgreSQL's advisory keys are per
database, so there the schema is added), so two caches in two databases of
one server never wait for each other.

SQLite has no such lock: a row in ``pkgcache_lock`` is a lease
(:func:`pkgcache.plugin.hold_lease`), renewed by its living holder and taken
over once it has not been renewed for ``ttl`` seconds, so a killed holder
blocks the others for at most ``ttl``, and a reload longer than that still
runs once. While the holder's reload transaction holds SQLite's write lock
its renewals wait, but then no one else can take the lease either; after
the commit the cache is no longer empty, so a process that takes an
expired lease then finds nothing to do.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, insert, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from pkgcache.plugin import LeaseOps, hold_lease

from .schema import lock

LOCK_NAME = "pkgcache-reload"
_POLL = 0.05
_MYSQL_NAME_MAX = 64  # MySQL 5.7+ refuses longer GET_LOCK names
_BUSY_MS = 200  # how long taking the SQLite lease waits for the write lock
_SQLITE_TIMEOUT_MS = 30_000  # the busy timeout of every other statement (the engine's connect_args)

Primitive = tuple[Callable[[], bool], Callable[[], None]]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def scoped_name(scope: str) -> str:
    """The lock name of one cache: the database (and schema) it lives in, hashed when long."""
    name = f"{LOCK_NAME}:{scope}"
    if len(name) > _MYSQL_NAME_MAX:
        name = f"{LOCK_NAME}:{hashlib.sha1(scope.encode()).hexdigest()}"
    return name


def _postgresql(conn: Connection, name: str) -> Primitive:
    key = zlib.crc32(name.encode())

    def take() -> bool:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        return held

    def give_back() -> None:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        conn.commit()

    return take, give_back


def _mysql(conn: Connection, name: str) -> Primitive:
    def take() -> bool:
        held = conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar() == 1
        conn.commit()
        return held

    def give_back() -> None:
        conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
        conn.commit()

    return take, give_back


def _sqlite_lease(engine: Engine, name: str) -> LeaseOps:
    """A row per lock; ``acquired_at`` holds the time of the last renewal."""

    def acquire(owner: str, ttl: float) -> bool:
        now = _utcnow()
        with engine.connect() as conn:
            conn.execution_options(pkgcache_write=True)
            driver = conn.connection.dbapi_connection
            assert driver is not None
            # a reload holds SQLite's write lock for its whole transaction: then the lease is
            # not free either, so say so at once and let hold_lease poll (not wait 30 s here)
            driver.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            try:
                with conn.begin():
                    expired = lock.c.acquired_at < now - timedelta(seconds=ttl)
                    conn.execute(delete(lock).where(lock.c.name == name, expired))
                with conn.begin():
                    conn.execute(insert(lock).values(name=name, owner=owner, acquired_at=now))
            except IntegrityError:
                return False
            except OperationalError as err:
                if getattr(err.orig, "sqlite_errorname", "") != "SQLITE_BUSY":
                    raise
                return False
            finally:
                driver.execute(f"PRAGMA busy_timeout = {_SQLITE_TIMEOUT_MS}")
        return True

    def renew(owner: str, ttl: float) -> bool:
        with engine.connect() as conn:
            conn.execution_options(pkgcache_write=True)
            with conn.begin():
                where = (lock.c.name == name, lock.c.owner == owner)
                return conn.execute(update(lock).where(*where).values(acquired_at=_utcnow())).rowcount == 1

    def release(owner: str) -> None:
        with engine.connect() as conn:
            conn.execution_options(pkgcache_write=True)
            with conn.begin():
                conn.execute(delete(lock).where(lock.c.name == name, lock.c.owner == owner))

    return LeaseOps(acquire, renew, release)


@contextmanager
def _live_connection(engine: Engine) -> Iterator[Connection]:
    """A connection that answers: the lock lives as long as it, so it is pinged once
    (the pool does not ping; see ``SQLCache._read``)."""
    conn = engine.connect()
    try:
        conn.exec_driver_sql("SELECT 1")
        conn.rollback()
    except DBAPIError as err:
        conn.close()
        if not err.connection_invalidated:
            raise
        conn = engine.connect()  # the pool dropped its connections older than the failure
    with conn:
        yield conn


@contextmanager
def reload_lock(engine: Engine, timeout: float, scope: str, lease_ttl: float) -> Iterator[bool]:
    """Hold this cache's reload lock; yields False when ``timeout`` ran out."""
    name = scoped_name(scope)
    dialect = engine.dialect.name
    if dialect not in ("postgresql", "mysql", "mariadb"):
        with hold_lease(_sqlite_lease(engine, name), timeout, lease_ttl) as held:
            yield held
        return
    with _live_connection(engine) as conn:
        take, give_back = (_postgresql if dialect == "postgresql" else _mysql)(conn, name)
        deadline = time.monotonic() + timeout
        held = take()
        while not held and time.monotonic() < deadline:
            time.sleep(_POLL)
            held = take()
        try:
            yield held
        finally:
            if held:
                give_back()
