"""The cross-process reload lock, with each database's own primitive.

PostgreSQL: a session advisory lock; MySQL/MariaDB: ``GET_LOCK``; SQLite:
a row in ``pkgcache_lock`` (an insert succeeds for one process only), taken
over when older than the timeout in case its owner died. Each primitive is
a pair "try to take it now" / "give it back"; one loop polls any of them
until it is held or the timeout runs out.
"""

from __future__ import annotations

import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, insert, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from .schema import lock

LOCK_NAME = "pkgcache-reload"
_POLL = 0.05

Primitive = tuple[Callable[[], bool], Callable[[], None]]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _postgresql(conn: Connection, name: str, timeout: float) -> Primitive:
    key = zlib.crc32(name.encode())

    def take() -> bool:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        return held

    def give_back() -> None:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        conn.commit()

    return take, give_back


def _mysql(conn: Connection, name: str, timeout: float) -> Primitive:
    def take() -> bool:
        held = conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar() == 1
        conn.commit()
        return held

    def give_back() -> None:
        conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
        conn.commit()

    return take, give_back


def _table(conn: Connection, name: str, timeout: float) -> Primitive:
    owner = uuid.uuid4().hex

    def take() -> bool:
        try:
            conn.execute(insert(lock).values(name=name, owner=owner, acquired_at=_utcnow()))
            conn.commit()
            return True
        except IntegrityError:
            conn.rollback()
            stale = _utcnow() - timedelta(seconds=timeout)  # its owner died: take it over next time
            conn.execute(delete(lock).where(lock.c.name == name, lock.c.acquired_at < stale))
            conn.commit()
            return False

    def give_back() -> None:
        conn.execute(delete(lock).where(lock.c.name == name, lock.c.owner == owner))
        conn.commit()

    return take, give_back


@contextmanager
def reload_lock(engine: Engine, timeout: float) -> Iterator[bool]:
    """Hold the database-wide reload lock; yields False when ``timeout`` ran out."""
    primitive = {"postgresql": _postgresql, "mysql": _mysql, "mariadb": _mysql}.get(engine.dialect.name, _table)
    with engine.connect() as conn:
        take, give_back = primitive(conn, LOCK_NAME, timeout)
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
