"""How the SQL backend talks to its database: the engine, short transactions, errors by
cause, retries, and the schema created on first use.

A mixin of :class:`~pkgcache_sql.cache.SQLCache`, apart from it so that the
backend reads as what it stores: every read is one statement in
:meth:`Connections._read` (retried once on a dropped connection), every write one
transaction in :meth:`Connections._write` (deadlocks retried with jittered
backoff, then ``CacheBusy``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, func, insert, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import StaticPool

from pkgcache import PkgcacheError, mask_url, scrub, url_secrets

from ._errors import classify, is_retryable, quiet_psycopg_cleanup
from ._project_locks import create_everything_row
from .schema import SCHEMA_VERSION, meta, metadata, project_locks, use_dialect
from .settings import SQLSettings, engine_url, pool_class

__all__ = ["Connections"]

T = TypeVar("T")


class Connections:
    """The engine and its use; :meth:`_open` sets it up from the settings."""

    #: tries of a write that meets deadlocks before CacheBusy
    WRITE_ATTEMPTS = 6
    engine: Engine

    def _open(self, settings: SQLSettings) -> None:
        url = engine_url(settings.url.get_secret_value())
        raw = settings.url.get_secret_value()
        self._address = mask_url(url.render_as_string(hide_password=True))
        self._secrets = url_secrets(raw) + ([url.password] if url.password else [])
        self._sqlite = url.get_backend_name() == "sqlite"
        self._in_memory = self._sqlite and url.database in (None, "", ":memory:")
        options: dict[str, Any] = {"echo": settings.echo, "pool_pre_ping": settings.pool_pre_ping}
        for key in ("pool_size", "max_overflow", "pool_recycle"):
            if getattr(settings, key) is not None:
                options[key] = getattr(settings, key)
        if settings.poolclass:
            options["poolclass"] = pool_class(settings.poolclass)
        if self._sqlite:
            options["connect_args"] = {"timeout": 30, "check_same_thread": False}
            if self._in_memory:  # one shared connection, or every thread sees its own empty database
                options["poolclass"] = StaticPool
                options.pop("pool_size", None)
                options.pop("max_overflow", None)
        self.engine: Engine = create_engine(url, **options)
        use_dialect(self.engine.dialect.name)
        if url.get_driver_name() == "psycopg":
            quiet_psycopg_cleanup()
        if self._sqlite:
            self._setup_sqlite_transactions()
        # the in-memory database is one connection: serialize its users
        self._serial: AbstractContextManager[Any] = threading.RLock() if self._in_memory else nullcontext()
        self._ready = False
        self._autocommit_reads = url.get_backend_name() == "postgresql"
        self._scope = "main"  # database and schema, read from the server with the schema

    def _setup_sqlite_transactions(self) -> None:
        """pysqlite's own transaction handling defers BEGIN; writers take the lock up front instead."""
        in_memory = self._in_memory

        @event.listens_for(self.engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            if not in_memory:
                dbapi_connection.execute("PRAGMA journal_mode=WAL")

        @event.listens_for(self.engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("pkgcache_write") else "BEGIN")

    def _scrub(self, message: str) -> str:
        return scrub(message, self._secrets)

    @contextmanager
    def _errors(self, attempts: int = 1) -> Iterator[None]:
        try:
            yield
        except DBAPIError as err:
            mapped = classify(err, self._address, attempts)
            if mapped is None:
                raise
            raise type(mapped)(self._scrub(str(mapped))) from err

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[Connection]:
        with self._serial, self.engine.connect() as conn:
            if write:
                conn.execution_options(pkgcache_write=True)
            if not self._ready:
                self._create_schema(conn)
            if not write and not self._sqlite:
                # every read is one statement, consistent by itself: no BEGIN and COMMIT round
                # trips around it. psycopg switches to autocommit without a round trip; PyMySQL
                # would take one each way, so a MariaDB read ends with the pool's ROLLBACK instead
                if self._autocommit_reads:
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn
                return
            with conn.begin():
                if write and not self._sqlite:
                    # see _project_locks: each statement after the locks sees the latest commits. As a
                    # statement (not the connection's isolation option) so a dropped connection fails
                    # here as a DBAPIError that _write retries.
                    conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
                yield conn

    def _read(self, work: Callable[[Connection], T]) -> T:
        """Run a read; on a connection the server dropped, once more on a fresh one.

        This replaces the pool's pre-ping (``db.pool_pre_ping``, off by
        default), which cost one round trip on every call: a dropped
        connection is found by the read itself, SQLAlchemy then discards
        every pooled connection older than the failure, and a read is safe
        to repeat.
        """
        with self._errors():
            try:
                with self._connect() as conn:
                    return work(conn)
            except DBAPIError as err:
                if not err.connection_invalidated:
                    raise
            with self._connect() as conn:
                return work(conn)

    def _write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a write transaction; deadlocks are retried with growing, jittered
        pauses, a dropped connection once. Every write here may run twice: upserts and deletes
        by key, and project rows recomputed from the files."""
        with self._errors(self.WRITE_ATTEMPTS):
            reconnected = False
            for attempt in range(1, self.WRITE_ATTEMPTS + 1):
                try:
                    with self._connect(write=True) as conn:
                        return work(conn)
                except DBAPIError as err:
                    if err.connection_invalidated and not reconnected:
                        reconnected = True
                        continue
                    if attempt == self.WRITE_ATTEMPTS or not is_retryable(err):
                        raise
                    time.sleep(0.02 * 2**attempt * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    def _create_schema(self, conn: Connection) -> None:
        """Create missing tables and check the schema version, once per cache."""
        for attempt in range(3):  # several processes may create the tables at once
            try:
                metadata.create_all(conn, checkfirst=True)
                if not self._sqlite and self.engine.dialect.name != "postgresql":
                    project_locks.create(conn, checkfirst=True)
                    create_everything_row(conn)
                conn.commit()
                break
            except DBAPIError:
                conn.rollback()
                if attempt == 2:
                    raise
                time.sleep(0.1)
        self._scope = self._find_scope(conn)
        found = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
        if found is None:
            try:
                conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
                conn.commit()
            except IntegrityError:
                conn.rollback()
        elif int(found) > SCHEMA_VERSION:
            raise PkgcacheError(
                f"database {self._address} has pkgcache schema version {found}, newer than the "
                f"{SCHEMA_VERSION} this pkgcache-sql knows: upgrade pkgcache-sql"
            )
        elif int(found) < SCHEMA_VERSION:
            raise PkgcacheError(
                f"database {self._address} has pkgcache schema version {found}, written by a development "
                f"version of pkgcache-sql (this one writes {SCHEMA_VERSION}): drop its pkgcache_* tables "
                "(pkgcache reload fills them again from the storage) or use a new database"
            )
        conn.commit()
        self._ready = True

    def _find_scope(self, conn: Connection) -> str:
        """What tells this cache from another on the same server: database and schema."""
        if self._sqlite:
            return "main"  # the file is the database; its locks live in it
        if self.engine.dialect.name == "postgresql":
            row = conn.execute(select(func.current_database(), func.current_schema())).one()
            return f"{row[0]}.{row[1]}"
        return str(conn.execute(text("SELECT DATABASE()")).scalar())

    def _db_time(self, value: datetime) -> Any:
        """SQLite stores SQLAlchemy's text form; the other drivers take naive UTC datetimes."""
        naive = value.replace(tzinfo=None)  # a Package's time is always aware UTC
        return naive.isoformat(" ", "microseconds") if self._sqlite else naive
