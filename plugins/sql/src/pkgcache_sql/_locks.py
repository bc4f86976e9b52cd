"""The cross-process reload lock, with each database's own primitive.

PostgreSQL: a session advisory lock; MySQL/MariaDB: ``GET_LOCK``; SQLite:
a row in ``pkgcache_lock`` (an insert succeeds for one process only), taken
over when older than the timeout in case its owner died.
"""

from __future__ import annotations

import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, insert, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from .schema import lock

LOCK_NAME = "pkgcache-reload"
_POLL = 0.05


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@contextmanager
def _postgresql(conn: Connection, name: str, timeout: float) -> Iterator[bool]:
    key = zlib.crc32(name.encode())
    deadline = time.monotonic() + timeout
    held = False
    while not held:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        if held or time.monotonic() > deadline:
            break
        time.sleep(_POLL)
    try:
        yield held
    finally:
        if held:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


@contextmanager
def _mysql(conn: Connection, name: str, timeout: float) -> Iterator[bool]:
    held = conn.execute(text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": max(0, int(timeout))}).scalar() == 1
    conn.commit()
    try:
        yield held
    finally:
        if held:
            conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
            conn.commit()


@contextmanager
def _table(conn: Connection, name: str, timeout: float) -> Iterator[bool]:
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + timeout
    held = False
    while not held:
        try:
            conn.execute(insert(lock).values(name=name, owner=owner, acquired_at=_utcnow()))
            conn.commit()
            held = True
        except IntegrityError:
            conn.rollback()
            stale = _utcnow() - timedelta(seconds=timeout)
            conn.execute(delete(lock).where(lock.c.name == name, lock.c.acquired_at < stale))
            conn.commit()
            if time.monotonic() > deadline:
                break
            time.sleep(_POLL)
    try:
        yield held
    finally:
        if held:
            conn.execute(delete(lock).where(lock.c.name == name, lock.c.owner == owner))
            conn.commit()


@contextmanager
def reload_lock(engine: Engine, timeout: float) -> Iterator[bool]:
    """Hold the database-wide reload lock; yields False when ``timeout`` ran out."""
    primitive = {"postgresql": _postgresql, "mysql": _mysql, "mariadb": _mysql}.get(engine.dialect.name, _table)
    with engine.connect() as conn, primitive(conn, LOCK_NAME, timeout) as held:
        yield held
