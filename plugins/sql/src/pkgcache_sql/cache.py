"""The SQL backend on SQLAlchemy 2 Core: SQLite, PostgreSQL, MySQL/MariaDB.

Every call is one short transaction. Writes lock the projects they touch
(``_project_locks``), then bulk-upsert (``executemany``) and recompute the
touched rows of ``pkgcache_projects``. A plain reload replaces every row of
the live tables in one transaction: readers on other connections see the
old contents until the commit (MVCC on PostgreSQL and InnoDB, WAL on
SQLite), never an empty cache; a killed reload is rolled back by the server
and leaves nothing behind; the tables keep their grants and index names.
Deadlocks and serialization failures between concurrent writers are
retried a bounded number of times, then raise ``CacheBusy``; errors are
sorted by cause in ``_errors``.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timezone
from functools import partial
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import (
    Row,
    Table,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    false,
    func,
    insert,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import StaticPool

from pkgcache import (
    Cache,
    CacheUnavailable,
    Package,
    PkgcacheError,
    SearchTermTooLong,
    Storage,
    mask_url,
    normalize_name,
    scrub,
    url_secrets,
)
from pkgcache.plugin import LEASE_TTL

from ._errors import SQLITE_MAX_TERM, classify, is_retryable, quiet_psycopg_cleanup
from ._locks import reload_lock
from ._project_locks import create_everything_row, lock_everything, lock_projects
from .schema import (
    SCHEMA_VERSION,
    TOKEN_CHARS,
    files,
    meta,
    metadata,
    project_locks,
    projects,
    use_dialect,
)
from .settings import SQLSettings, engine_url, pool_class

__all__ = ["SQLCache"]

T = TypeVar("T")
CHUNK = 500  # names or filenames in one IN (...) list
INSERT_BATCH = 10_000  # rows in one executemany
PAGE = 5_000  # rows of one query of a full scan: memory stays one page, whatever the size of the cache


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


#: ``Package.data_json``'s format with one encoder made once: ``json.dumps`` with options builds
#: a new encoder per call, a third of the Python time of a 100,000-row reload
_data_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _values(p: Package, modified: Any) -> tuple[Any, ...]:
    """A files row in the order of the table's columns (``_COLUMNS``);
    ``modified`` is the time as the receiver wants it."""
    summary_folded = (p.summary or "").casefold()
    return (
        p.filename,
        p.name,
        p.version,
        p.sort_key,
        modified,
        p.summary,
        summary_folded,
        _data_json(p.data),
        p.name.casefold(),
        p.token if p.token is None or len(p.token) <= TOKEN_CHARS else None,
    )


def _row(p: Package) -> dict[str, Any]:
    """A files row for SQLAlchemy statements (naive UTC: a Package's time is always aware UTC)."""
    return dict(zip(_COLUMNS, _values(p, p.last_modified.replace(tzinfo=None)), strict=True))


def _all_rows(query: Any, conn: Connection) -> Sequence[Row[Any]]:
    return conn.execute(query).all()


#: a files row's fields by position, in Package.restore's order: a Row's attribute access
#: cost half of building 5,000 packages (0.25 µs a field), its positions almost nothing
_RESTORE_FIELDS = itemgetter(
    *(
        list(files.columns.keys()).index(column)
        for column in ("name", "version", "filename", "last_modified", "summary", "data", "sort_key", "token")
    )
)


def _package(row: Row[Any]) -> Package:
    """A package from a row that starts with the columns of ``files`` (more may follow)."""
    name, version, filename, modified, summary, data, sort_key, token = _RESTORE_FIELDS(row)
    return Package.restore(name, version, filename, modified, summary, json.loads(data), sort_key, token)


_ORDER = (files.c.sort_key.desc(), files.c.filename)
#: the hot reads, built once: building a statement per call cost about a third of a ``fetch``
_FETCH = select(files).where(files.c.filename == bindparam("filename"))
_ALL = select(files).where(files.c.name == bindparam("name")).order_by(*_ORDER)
_COLUMNS = tuple(c.name for c in files.columns)
_PROJECT_COLUMNS = ("name", "summary", "last_modified")
_GENERATION = select(meta.c.value).where(meta.c.key == "generation").scalar_subquery()
_PROJECT_TOKEN = select(projects.c.serial, _GENERATION).where(projects.c.name == bindparam("name"))
_INDEX_TOKEN = select(meta.c.key, meta.c.value).where(meta.c.key.in_(["generation", "index"]))


class _ProjectRows:
    """The summary rows of projects, kept up to date as packages stream past: per
    project the first file in ``all()`` order (its sort key, filename, summary)
    and the newest time, one tuple in one dictionary; memory is one entry per
    project, never per file."""

    def __init__(self) -> None:
        self.best: dict[str, tuple[str, str, str | None, datetime]] = {}

    def add(self, packages: Sequence[Package]) -> None:
        best = self.best
        for p in packages:
            found = best.get(p.name)
            if found is None:
                best[p.name] = (p.sort_key, p.filename, p.summary, p.last_modified)
            elif p.sort_key > found[0] or (p.sort_key == found[0] and p.filename < found[1]):
                best[p.name] = (p.sort_key, p.filename, p.summary, max(found[3], p.last_modified))
            elif p.last_modified > found[3]:
                best[p.name] = (*found[:3], p.last_modified)

    def pop_all_but(self, name: str) -> dict[str, tuple[str, str, str | None, datetime]]:
        """Take out every project but ``name``."""
        kept = self.best.pop(name, None)
        taken, self.best = self.best, {} if kept is None else {name: kept}
        return taken

    def rows(self, db_time: Callable[[datetime], Any]) -> list[tuple[Any, ...]]:
        return self.rows_of(self.best, db_time)

    @staticmethod
    def rows_of(
        best: dict[str, tuple[str, str, str | None, datetime]], db_time: Callable[[datetime], Any]
    ) -> list[tuple[Any, ...]]:
        return [(name, row[2], db_time(row[3])) for name, row in best.items()]


def _project_rows(where: Any) -> Any:
    """Per project: name, the summary of its first file in ``all()`` order, its newest time.

    The summary comes from a correlated subquery that walks the (name, sort_key)
    index from the top and stops at one row: MariaDB ranked a project's files
    with a window function in 3.7 s at 5,000 files (PostgreSQL in 6 ms), which
    every save to such a project paid."""
    first = files.alias("first")
    summary = (
        select(first.c.summary)
        .where(first.c.name == files.c.name)
        .order_by(first.c.sort_key.desc(), first.c.filename)
        .limit(1)
        .scalar_subquery()
    )
    newest = func.max(files.c.last_modified)
    return (
        select(files.c.name, summary.label("summary"), newest.label("last_modified"))
        .where(where)
        .group_by(files.c.name)
    )


class SQLCache(Cache):
    """``pypi.db = sql``: the default backend."""

    Settings = SQLSettings
    stores_tokens = True
    atomic_reload = True
    settings: SQLSettings
    #: seconds the SQLite reload lease lives unrenewed: the longest a killed holder blocks others
    lease_seconds: float = LEASE_TTL
    #: tries of a write that meets deadlocks before CacheBusy
    WRITE_ATTEMPTS = 6

    def __init__(self, settings: SQLSettings, storage: Storage, **kwargs: Any) -> None:  # type: ignore[override]
        super().__init__(settings, storage, **kwargs)
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

    # -- change markers: one small read each -----------------------------------
    def project_token(self, name: str) -> str | None:
        """The project row's ``serial`` (new at each write to its files) and the reload
        generation (new at each plain reload, which writes the rows without serials)."""
        row = self._read(lambda c: c.execute(_PROJECT_TOKEN, {"name": normalize_name(name)}).first())
        return None if row is None else f"{row[1] or ''}.{row[0] or ''}"

    def index_token(self) -> str:
        """The reload generation and the ``index`` serial (new when a project appears or vanishes)."""
        rows = dict(self._read(lambda c: c.execute(_INDEX_TOKEN).all()))
        return f"{rows.get('generation', '')}.{rows.get('index', '')}"

    def _bump(self, conn: Connection, key: str) -> None:
        """A new random value for the marker ``key`` of ``pkgcache_meta``."""
        conn.execute(self._upsert(meta, "key"), [{"key": key, "value": uuid.uuid4().hex}])

    # -- reads -------------------------------------------------------------
    def fetch(self, filename: str) -> Package | None:
        row = self._read(lambda c: c.execute(_FETCH, {"filename": filename}).first())
        return _package(row) if row is not None else None

    def all(self, name: str) -> list[Package]:
        params = {"name": normalize_name(name)}
        return [_package(r) for r in self._read(lambda c: c.execute(_ALL, params).all())]

    def distinct(self) -> list[str]:
        query = select(projects.c.name).order_by(projects.c.name)
        return list(self._read(lambda c: c.execute(query).scalars().all()))

    def summary(self) -> list[dict[str, Any]]:
        query = select(projects).order_by(projects.c.name)
        return [
            {"name": r.name, "summary": r.summary, "last_modified": r.last_modified.replace(tzinfo=timezone.utc)}
            for r in self._read(lambda c: c.execute(query).all())
        ]

    def _search(self, terms: dict[str, list[str]], query_type: str) -> list[Package]:
        if self._sqlite and any(len(t) > SQLITE_MAX_TERM for ts in terms.values() for t in ts):
            raise SearchTermTooLong(f"search term too long: at most {SQLITE_MAX_TERM} characters")
        conditions = [files.c.name_folded.contains(t, autoescape=True) for t in terms["name"]]
        conditions += [files.c.summary_folded.contains(t, autoescape=True) for t in terms["summary"]]
        where = and_(true(), *conditions) if query_type == "and" else or_(false(), *conditions)
        if terms["name"] and (query_type == "and" or not terms["summary"]):
            # every match needs its name to match: find the names among the projects' rows
            # (one per project, casefolded in Python, exactly as name_folded), then rank only
            # their files, instead of testing the name of every file
            test = all if query_type == "and" else any
            names = [n for n in self.distinct() if test(t in n.casefold() for t in terms["name"])]
            if not names:
                return []
            if len(names) <= CHUNK:
                where = and_(files.c.name.in_(names), where)
        rank = func.row_number().over(partition_by=files.c.name, order_by=_ORDER).label("rank")
        ranked = select(files, rank).where(where).subquery()
        query = select(ranked).where(ranked.c.rank == 1).order_by(ranked.c.name)
        return [_package(r) for r in self._read(lambda c: c.execute(query).all())]

    def _pages(self, *columns: Any) -> Iterator[Row[Any]]:
        """Every row of ``files``, by filename, one short query per :data:`PAGE` rows
        (keyset pagination on the primary key): no cursor stays open while the
        caller works, and memory is one page."""
        after: str | None = None
        while True:
            query = select(*columns).order_by(files.c.filename).limit(PAGE)
            if after is not None:
                query = query.where(files.c.filename > after)
            rows = self._read(partial(_all_rows, query))
            yield from rows
            if len(rows) < PAGE:
                return
            after = rows[-1].filename

    def _iter_packages(self) -> Iterator[Package]:
        return (_package(r) for r in self._pages(files))

    def _fetch_many(self, filenames: Sequence[str]) -> dict[str, Package]:
        found: dict[str, Package] = {}
        for chunk in _chunks(filenames, CHUNK):
            query = select(files).where(files.c.filename.in_(chunk))
            found.update((r.filename, _package(r)) for r in self._read(partial(_all_rows, query)))
        return found

    def _iter_tokens(self) -> Iterator[tuple[str, str | None]]:
        return ((r.filename, r.token) for r in self._pages(files.c.filename, files.c.token))

    def _is_empty(self) -> bool:
        return self._read(lambda c: c.execute(select(projects.c.name).limit(1)).first()) is None

    # -- writes --------------------------------------------------------------
    def _upsert(self, table: Any, key: str) -> Any:
        # each dialect's insert from its own package, which the engine has imported already:
        # importing all three up front would cost every command the two dialects it does not use
        dialect = self.engine.dialect.name
        columns = [c.name for c in table.columns if c.name != key]
        if dialect in ("mysql", "mariadb"):
            from sqlalchemy.dialects import mysql

            on_mysql = mysql.insert(table)
            return on_mysql.on_duplicate_key_update({c: on_mysql.inserted[c] for c in columns})
        if dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            stmt: Any = postgresql.insert(table)
        else:
            from sqlalchemy.dialects import sqlite

            stmt = sqlite.insert(table)
        return stmt.on_conflict_do_update(index_elements=[key], set_={c: stmt.excluded[c] for c in columns})

    def _refresh_projects(self, conn: Connection, names: set[str]) -> None:
        """Recompute the summary rows of ``names`` from their files, each with a new serial;
        the index serial changes too when a project appears or vanishes."""
        listed_changed = False
        for chunk in _chunks(sorted(names), CHUNK):
            rows = conn.execute(_project_rows(files.c.name.in_(chunk))).all()
            present = set(conn.execute(select(projects.c.name).where(projects.c.name.in_(chunk))).scalars())
            found = [
                {"name": r.name, "summary": r.summary, "last_modified": r.last_modified, "serial": uuid.uuid4().hex}
                for r in rows
            ]
            if found:
                conn.execute(self._upsert(projects, "name"), found)
            gone = set(chunk) - {r["name"] for r in found}
            if gone:
                conn.execute(delete(projects).where(projects.c.name.in_(gone)))
            listed_changed = listed_changed or bool(gone & present) or any(r["name"] not in present for r in found)
        if listed_changed:
            self._bump(conn, "index")

    def _save_many(self, packages: Sequence[Package]) -> None:
        if not packages:
            return
        rows = list({p.filename: _row(p) for p in packages}.values())  # last one wins, as saved in turn

        def work(conn: Connection) -> None:
            names = {r["name"] for r in rows}
            lock_projects(conn, self._scope, names)
            earlier: set[str] = set()  # a filename saved before under another name: that project changes too
            for chunk in _chunks([r["filename"] for r in rows], CHUNK):
                earlier.update(conn.execute(select(files.c.name).where(files.c.filename.in_(chunk))).scalars())
            lock_projects(conn, self._scope, earlier - names, first=False)
            for batch in _chunks(rows, INSERT_BATCH):
                conn.execute(self._upsert(files, "filename"), list(batch))
            self._refresh_projects(conn, names | earlier)

        self._write(work)

    def _clear(self, package: Package) -> None:
        def work(conn: Connection) -> None:
            lock_projects(conn, self._scope, [package.name])
            name = conn.execute(select(files.c.name).where(files.c.filename == package.filename)).scalar()
            if name is not None:
                lock_projects(conn, self._scope, {name} - {package.name}, first=False)
                conn.execute(delete(files).where(files.c.filename == package.filename))
                self._refresh_projects(conn, {name})

        self._write(work)

    def _clear_all(self) -> None:
        def work(conn: Connection) -> None:
            lock_everything(conn, self._scope)
            conn.execute(delete(files))
            conn.execute(delete(projects))
            self._bump(conn, "generation")

        self._write(work)

    def _replace_all(self, packages: Sequence[Package]) -> None:
        """Replace every row of the live tables in one transaction.

        Readers see the old contents until the commit and the new ones after
        it, never an empty cache; a reload killed midway is rolled back by
        the server and leaves nothing behind. The live tables are never
        swapped, so their grants, indexes and constraints stay as they are.
        """
        latest = list({p.filename: p for p in packages}.values())  # last one wins, as saved in turn

        def work(conn: Connection) -> None:
            lock_everything(conn, self._scope)
            conn.execute(delete(files))
            conn.execute(delete(projects))
            for batch in _chunks(latest, INSERT_BATCH):
                self._insert_plain(conn, files, _COLUMNS, [self._file_tuple(p) for p in batch])
            # the project rows from the packages at hand: a window query over
            # 100,000 rows costs MariaDB three times the insert itself
            summary = _ProjectRows()
            summary.add(latest)
            self._insert_plain(conn, projects, _PROJECT_COLUMNS, summary.rows(self._db_time))
            self._bump(conn, "generation")

        self._write(work)

    @contextmanager
    def _replacing(self) -> Iterator[Callable[[Sequence[Package]], None]]:
        """What :meth:`_replace_all` does, batch by batch inside its one transaction:
        a plain reload holds one batch, not the storage. An exception (a refused
        reload) rolls it all back; it is not retried, since the batches are gone.
        An in-memory database is one connection, on which reads during the block
        would see the emptied tables: it collects, then replaces, as the base class."""
        if self._in_memory:
            with super()._replacing() as add_all:
                yield add_all
            return
        summary = _ProjectRows()
        flushed: set[int] = set()  # hashes of the names whose row is written: 8 bytes and a slot each
        again: set[str] = set()  # names met again after their row was written (rare)
        added = 0
        with self._errors(), self._connect(write=True) as conn:
            lock_everything(conn, self._scope)
            conn.execute(delete(files))
            conn.execute(delete(projects))
            self._bump(conn, "generation")  # the rows come without serials: every page changes

            def add(batch: Sequence[Package]) -> None:
                nonlocal added
                latest = list({p.filename: p for p in batch}.values())
                for chunk in _chunks(latest, INSERT_BATCH):
                    self._insert_plain(conn, files, _COLUMNS, [self._file_tuple(p) for p in chunk], upsert=True)
                again.update(p.name for p in latest if hash(p.name) in flushed)
                summary.add([p for p in latest if p.name not in again])
                added += len(latest)
                # a storage lists project by project: write the rows of the projects this batch
                # did not end with, so that memory holds a few projects, not all of them
                done = summary.pop_all_but(latest[-1].name) if latest else {}
                self._insert_plain(conn, projects, _PROJECT_COLUMNS, _ProjectRows.rows_of(done, self._db_time))
                flushed.update(map(hash, done))

            yield add
            if conn.execute(select(func.count()).select_from(files)).scalar() != added:
                # a filename came in two batches: every row from the files that stayed
                conn.execute(delete(projects))
                conn.execute(insert(projects).from_select(_PROJECT_COLUMNS, _project_rows(true())))
                return
            self._insert_plain(conn, projects, _PROJECT_COLUMNS, summary.rows(self._db_time))
            if again:
                self._refresh_projects(conn, again)

    def _insert_plain(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        rows: list[tuple[Any, ...]],
        upsert: bool = False,
    ) -> None:
        """executemany straight to the driver: SQLAlchemy's per-row processing
        would double the time of a 100,000-row reload. ``upsert``: a row whose
        key (the first column) is there already replaces it."""
        if not rows:
            return
        marker = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))})"
        if upsert and self.engine.dialect.name in ("mysql", "mariadb"):
            sql += " ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = VALUES({c})" for c in columns[1:])
        elif upsert:
            sql += f" ON CONFLICT ({columns[0]}) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        conn.exec_driver_sql(sql, rows)

    def _db_time(self, value: datetime) -> Any:
        """SQLite stores SQLAlchemy's text form; the other drivers take naive UTC datetimes."""
        naive = value.replace(tzinfo=None)  # a Package's time is always aware UTC
        return naive.isoformat(" ", "microseconds") if self._sqlite else naive

    def _file_tuple(self, p: Package) -> tuple[Any, ...]:
        return _values(p, self._db_time(p.last_modified))

    # -- locks, health, lifetime ------------------------------------------------
    @contextmanager
    def _reload_lock(self, timeout: float) -> Iterator[bool]:
        if self._in_memory:  # one process by definition
            with super()._reload_lock(timeout) as held:
                yield held
            return
        if not self._ready:
            self._read(lambda c: None)  # the schema (and the lock table) first
        with self._errors(), reload_lock(self.engine, timeout, self._scope, self.lease_seconds) as held:
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
