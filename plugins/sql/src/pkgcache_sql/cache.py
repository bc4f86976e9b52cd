"""The SQL backend on SQLAlchemy 2 Core: SQLite, PostgreSQL, MySQL/MariaDB.

Every call is one short transaction. Writes are bulk upserts
(``executemany``) followed by a refresh of the touched rows of
``pkgcache_projects``. A plain reload fills two staging tables and renames
them over the live ones in one step (a transaction on SQLite and PostgreSQL,
one ``RENAME TABLE`` on MySQL/MariaDB), so readers on other connections see
the old contents until the switch and never an empty cache. Deadlocks and serialization failures between
concurrent writers are retried; a lost server raises ``CacheUnavailable``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import Row, Table, and_, create_engine, delete, event, false, func, insert, or_, select, true
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.pool import StaticPool

from pkgcache import Cache, CacheUnavailable, Package, PkgcacheError, Storage, normalize_name
from pkgcache.cache import best_and_newest, check_search_args

from ._locks import reload_lock
from .schema import SCHEMA_VERSION, files, meta, metadata, projects, staging_tables
from .settings import SQLSettings, engine_url, pool_class

__all__ = ["SQLCache"]

T = TypeVar("T")
CHUNK = 500  # names or filenames in one IN (...) list
INSERT_BATCH = 10_000  # rows in one executemany
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock (PostgreSQL)
_RETRYABLE_MYSQL = {1205, 1213}  # lock wait timeout, deadlock


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _values(p: Package, modified: Any) -> tuple[Any, ...]:
    """A files row in the order of the table's columns (``_COLUMNS``);
    ``modified`` is the time as the receiver wants it."""
    return (p.filename, p.name, p.version, p.sort_key, modified, p.summary, (p.summary or "").casefold(), p.data_json())


def _row(p: Package) -> dict[str, Any]:
    """A files row for SQLAlchemy statements (naive UTC: a Package's time is always aware UTC)."""
    return dict(zip(_COLUMNS, _values(p, p.last_modified.replace(tzinfo=None)), strict=True))


def _package(row: Row[Any] | Mapping[str, Any]) -> Package:
    r: Any = row
    return Package.restore(r.name, r.version, r.filename, r.last_modified, r.summary, json.loads(r.data), r.sort_key)


def _retryable(err: DBAPIError) -> bool:
    orig = err.orig
    if getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    args: tuple[Any, ...] = getattr(orig, "args", ())
    return len(args) > 0 and args[0] in _RETRYABLE_MYSQL


_ORDER = (files.c.sort_key.desc(), files.c.filename)
_COLUMNS = tuple(c.name for c in files.columns)
_PROJECT_COLUMNS = ("name", "summary", "last_modified")


def _project_rows(where: Any) -> Any:
    """Per project: name, the summary of its first file in ``all()`` order, its newest time."""
    rank = func.row_number().over(partition_by=files.c.name, order_by=_ORDER).label("rank")
    newest = func.max(files.c.last_modified).over(partition_by=files.c.name).label("last_modified")
    query = select(files.c.name, files.c.summary, newest, rank)
    ranked = query.where(where).subquery()
    return select(ranked.c.name, ranked.c.summary, ranked.c.last_modified).where(ranked.c.rank == 1)


class SQLCache(Cache):
    """``pypi.db = sql``: the default backend."""

    Settings = SQLSettings
    settings: SQLSettings

    def __init__(self, settings: SQLSettings, storage: Storage, **kwargs: Any) -> None:  # type: ignore[override]
        super().__init__(settings, storage, **kwargs)
        url = engine_url(settings.url.get_secret_value())
        self._address = url.render_as_string(hide_password=True)
        self._password = url.password
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
        if self._sqlite:
            self._setup_sqlite_transactions()
        # the in-memory database is one connection: serialize its users
        self._serial: AbstractContextManager[Any] = threading.RLock() if self._in_memory else nullcontext()
        self._ready = False

    def __repr__(self) -> str:
        return f"SQLCache({self._address!r})"

    # -- connections, errors, transactions --------------------------------------
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
        if self._password:
            message = message.replace(self._password, "***")
        return message

    def _unavailable(self, err: Exception) -> CacheUnavailable:
        orig = getattr(err, "orig", None) or err
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        return CacheUnavailable(self._scrub(f"sql backend cannot reach {self._address}: {first}"))

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (OperationalError, InterfaceError) as err:
            raise self._unavailable(err) from err
        except DBAPIError as err:
            if err.connection_invalidated:
                raise self._unavailable(err) from err
            raise

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[Connection]:
        with self._serial, self.engine.connect() as conn:
            if write:
                conn.execution_options(pkgcache_write=True)
            if not self._ready:
                self._create_schema(conn)
            with conn.begin():
                yield conn

    def _read(self, work: Callable[[Connection], T]) -> T:
        with self._errors(), self._connect() as conn:
            return work(conn)

    def _write(self, work: Callable[[Connection], T]) -> T:
        with self._errors():
            for attempt in range(6):
                try:
                    with self._connect(write=True) as conn:
                        return work(conn)
                except DBAPIError as err:
                    if attempt == 5 or not _retryable(err):
                        raise
                    time.sleep(0.02 * 2**attempt)
        raise AssertionError("unreachable")

    def _create_schema(self, conn: Connection) -> None:
        """Create missing tables and check the schema version, once per cache."""
        for attempt in range(3):  # several processes may create the tables at once
            try:
                metadata.create_all(conn, checkfirst=True)
                conn.commit()
                break
            except DBAPIError:
                conn.rollback()
                if attempt == 2:
                    raise
                time.sleep(0.1)
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
        conn.commit()
        self._ready = True

    # -- reads -------------------------------------------------------------
    def fetch(self, filename: str) -> Package | None:
        row = self._read(lambda c: c.execute(select(files).where(files.c.filename == filename)).first())
        return _package(row) if row is not None else None

    def all(self, name: str) -> list[Package]:
        query = select(files).where(files.c.name == normalize_name(name)).order_by(*_ORDER)
        return [_package(r) for r in self._read(lambda c: c.execute(query).all())]

    def distinct(self) -> list[str]:
        query = select(projects.c.name).order_by(projects.c.name)
        return list(self._read(lambda c: c.execute(query).scalars().all()))

    def summary(self) -> list[dict[str, Any]]:
        query = select(projects).order_by(projects.c.name)
        return [
            {"name": r.name, "summary": r.summary, "last_modified": r.last_modified.replace(tzinfo=timezone.utc)}
            for r in self._read(lambda c: c.execute(query).all())
        ]

    def search(self, criteria: Mapping[str, Any], query_type: str = "and") -> list[Package]:
        terms = check_search_args(criteria, query_type)
        conditions = [files.c.name.contains(t, autoescape=True) for t in terms["name"]]
        conditions += [files.c.summary_folded.contains(t, autoescape=True) for t in terms["summary"]]
        where = and_(true(), *conditions) if query_type == "and" else or_(false(), *conditions)
        rank = func.row_number().over(partition_by=files.c.name, order_by=_ORDER).label("rank")
        ranked = select(files, rank).where(where).subquery()
        query = select(ranked).where(ranked.c.rank == 1).order_by(ranked.c.name)
        return [_package(r) for r in self._read(lambda c: c.execute(query).all())]

    def _iter_packages(self) -> Iterator[Package]:
        rows = self._read(lambda c: c.execute(select(files)).all())
        return (_package(r) for r in rows)

    def _is_empty(self) -> bool:
        return self._read(lambda c: c.execute(select(projects.c.name).limit(1)).first()) is None

    # -- writes --------------------------------------------------------------
    def _upsert(self, table: Any, key: str) -> Any:
        dialect = self.engine.dialect.name
        columns = [c.name for c in table.columns if c.name != key]
        if dialect in ("mysql", "mariadb"):
            stmt = mysql.insert(table)
            return stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in columns})
        stmt = (postgresql if dialect == "postgresql" else sqlite).insert(table)
        return stmt.on_conflict_do_update(index_elements=[key], set_={c: stmt.excluded[c] for c in columns})

    def _refresh_projects(self, conn: Connection, names: set[str]) -> None:
        """Recompute the summary rows of ``names`` from their files."""
        for chunk in _chunks(sorted(names), CHUNK):
            rows = conn.execute(_project_rows(files.c.name.in_(chunk))).all()
            found = [{"name": r.name, "summary": r.summary, "last_modified": r.last_modified} for r in rows]
            if found:
                conn.execute(self._upsert(projects, "name"), found)
            gone = set(chunk) - {r["name"] for r in found}
            if gone:
                conn.execute(delete(projects).where(projects.c.name.in_(gone)))

    def _save_many(self, packages: Sequence[Package]) -> None:
        if not packages:
            return
        rows = list({p.filename: _row(p) for p in packages}.values())  # last one wins, as saved in turn

        def work(conn: Connection) -> None:
            names = {r["name"] for r in rows}
            for chunk in _chunks([r["filename"] for r in rows], CHUNK):
                names.update(conn.execute(select(files.c.name).where(files.c.filename.in_(chunk))).scalars())
            for batch in _chunks(rows, INSERT_BATCH):
                conn.execute(self._upsert(files, "filename"), list(batch))
            self._refresh_projects(conn, names)

        self._write(work)

    def _clear(self, package: Package) -> None:
        def work(conn: Connection) -> None:
            name = conn.execute(select(files.c.name).where(files.c.filename == package.filename)).scalar()
            if name is not None:
                conn.execute(delete(files).where(files.c.filename == package.filename))
                self._refresh_projects(conn, {name})

        self._write(work)

    def _clear_all(self) -> None:
        def work(conn: Connection) -> None:
            conn.execute(delete(files))
            conn.execute(delete(projects))

        self._write(work)

    def _replace_all(self, packages: Sequence[Package]) -> None:
        """Fill staging tables, then rename them over the live ones.

        Readers see the old contents until the switch and the new ones after
        it, never an empty cache; the rows go into empty tables (the fast
        path of every database) and the old rows are dropped with their table
        instead of deleted one by one.
        """
        latest = list({p.filename: p for p in packages}.values())  # last one wins, as saved in turn
        suffix = uuid.uuid4().hex[:10]
        staged_files, staged_projects = staging_tables(suffix)
        mysql_like = self.engine.dialect.name in ("mysql", "mariadb")
        with self._errors():
            try:
                with self._connect(write=True) as conn:
                    staged_files.create(conn)
                    staged_projects.create(conn)
                    for batch in _chunks(latest, INSERT_BATCH):
                        self._insert_plain(conn, staged_files, _COLUMNS, [self._file_tuple(p) for p in batch])
                    # the project rows from the packages at hand: a window query over
                    # 100,000 rows costs MariaDB three times the insert itself
                    self._insert_plain(conn, staged_projects, _PROJECT_COLUMNS, self._project_tuples(latest))
                    if not mysql_like:  # transactional DDL: the switch commits with the rows
                        self._swap(conn, suffix, staged_files.name, staged_projects.name)
                if mysql_like:  # DDL commits on its own there; RENAME TABLE is atomic
                    with self._connect(write=True) as conn:
                        self._swap(conn, suffix, staged_files.name, staged_projects.name)
            finally:
                with self._connect(write=True) as conn:
                    for name in (staged_files.name, staged_projects.name, *self._old_names(suffix)):
                        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")

    @staticmethod
    def _old_names(suffix: str) -> tuple[str, str]:
        return f"pkgcache_files_old_{suffix}", f"pkgcache_projects_old_{suffix}"

    def _swap(self, conn: Connection, suffix: str, new_files: str, new_projects: str) -> None:
        old_files, old_projects = self._old_names(suffix)
        pairs = [
            (files.name, old_files),
            (new_files, files.name),
            (projects.name, old_projects),
            (new_projects, projects.name),
        ]
        if self.engine.dialect.name in ("mysql", "mariadb"):
            conn.exec_driver_sql("RENAME TABLE " + ", ".join(f"{a} TO {b}" for a, b in pairs))
        else:
            for a, b in pairs:
                conn.exec_driver_sql(f"ALTER TABLE {a} RENAME TO {b}")

    def _insert_plain(
        self, conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        """executemany straight to the driver: SQLAlchemy's per-row processing
        would double the time of a 100,000-row reload."""
        if not rows:
            return
        marker = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))})"
        conn.exec_driver_sql(sql, rows)

    def _db_time(self, value: datetime) -> Any:
        """SQLite stores SQLAlchemy's text form; the other drivers take naive UTC datetimes."""
        naive = value.replace(tzinfo=None)  # a Package's time is always aware UTC
        return naive.isoformat(" ", "microseconds") if self._sqlite else naive

    def _file_tuple(self, p: Package) -> tuple[Any, ...]:
        return _values(p, self._db_time(p.last_modified))

    def _project_tuples(self, packages: Sequence[Package]) -> list[tuple[Any, ...]]:
        projects: dict[str, list[Package]] = defaultdict(list)
        for p in packages:
            projects[p.name].append(p)
        rows = []
        for name, files_of_project in projects.items():
            best, newest = best_and_newest(files_of_project)
            rows.append((name, best.summary, self._db_time(newest)))
        return rows

    # -- locks, health, lifetime ------------------------------------------------
    @contextmanager
    def _reload_lock(self, timeout: float) -> Iterator[bool]:
        if self._in_memory:  # one process by definition
            with super()._reload_lock(timeout) as held:
                yield held
            return
        with self._errors(), reload_lock(self.engine, timeout) as held:
            yield held

    def _check_health(self) -> tuple[bool, str]:
        try:
            self._read(lambda c: c.execute(select(true())).scalar())
        except CacheUnavailable as err:
            return False, str(err)
        return True, f"sql backend at {self._address} is reachable"

    def close(self) -> None:
        self.engine.dispose()
        super().close()
