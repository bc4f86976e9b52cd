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

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timezone
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import (
    Row,
    Table,
    and_,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    true,
)
from sqlalchemy.engine import Connection

from pkgcache import (
    Cache,
    CacheUnavailable,
    Package,
    SearchTermTooLong,
    Storage,
    normalize_name,
)
from pkgcache.plugin import LEASE_TTL

from ._connections import Connections
from ._errors import SQLITE_MAX_TERM
from ._locks import reload_lock
from ._project_locks import lock_everything, lock_projects
from ._rows import (
    ALL,
    CHUNK,
    COLUMNS,
    FETCH,
    INDEX_TOKEN,
    INSERT_BATCH,
    ORDER,
    PAGE,
    PROJECT_COLUMNS,
    PROJECT_TOKEN,
    ProjectRows,
    all_rows,
    chunks,
    file_row,
    file_values,
    package_of,
    project_rows_query,
)
from .schema import (
    files,
    meta,
    projects,
)
from .settings import SQLSettings

__all__ = ["SQLCache"]

T = TypeVar("T")


class SQLCache(Connections, Cache):
    """``pypi.db = sql``: the default backend."""

    Settings = SQLSettings
    stores_tokens = True
    atomic_reload = True
    settings: SQLSettings
    #: seconds the SQLite reload lease lives unrenewed: the longest a killed holder blocks others
    lease_seconds: float = LEASE_TTL

    def __init__(self, settings: SQLSettings, storage: Storage, **kwargs: Any) -> None:  # type: ignore[override]
        super().__init__(settings, storage, **kwargs)
        self._open(settings)

    def __repr__(self) -> str:
        return f"SQLCache({self._address!r})"

    # -- change markers: one small read each -----------------------------------
    def project_token(self, name: str) -> str | None:
        """The project row's ``serial`` (new at each write to its files) and the reload
        generation (new at each plain reload, which writes the rows without serials)."""
        row = self._read(lambda c: c.execute(PROJECT_TOKEN, {"name": normalize_name(name)}).first())
        return None if row is None else f"{row[1] or ''}.{row[0] or ''}"

    def index_token(self) -> str:
        """The reload generation and the ``index`` serial (new when a project appears or vanishes)."""
        rows = dict(self._read(lambda c: c.execute(INDEX_TOKEN).all()))
        return f"{rows.get('generation', '')}.{rows.get('index', '')}"

    def _bump(self, conn: Connection, key: str) -> None:
        """A new random value for the marker ``key`` of ``pkgcache_meta``."""
        conn.execute(self._upsert(meta, "key"), [{"key": key, "value": uuid.uuid4().hex}])

    # -- reads -------------------------------------------------------------
    def fetch(self, filename: str) -> Package | None:
        row = self._read(lambda c: c.execute(FETCH, {"filename": filename}).first())
        return package_of(row) if row is not None else None

    def all(self, name: str) -> list[Package]:
        params = {"name": normalize_name(name)}
        return [package_of(r) for r in self._read(lambda c: c.execute(ALL, params).all())]

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
        rank = func.row_number().over(partition_by=files.c.name, order_by=ORDER).label("rank")
        ranked = select(files, rank).where(where).subquery()
        query = select(ranked).where(ranked.c.rank == 1).order_by(ranked.c.name)
        return [package_of(r) for r in self._read(lambda c: c.execute(query).all())]

    def _pages(self, *columns: Any) -> Iterator[Row[Any]]:
        """Every row of ``files``, by filename, one short query per :data:`PAGE` rows
        (keyset pagination on the primary key): no cursor stays open while the
        caller works, and memory is one page."""
        after: str | None = None
        while True:
            query = select(*columns).order_by(files.c.filename).limit(PAGE)
            if after is not None:
                query = query.where(files.c.filename > after)
            rows = self._read(partial(all_rows, query))
            yield from rows
            if len(rows) < PAGE:
                return
            after = rows[-1].filename

    def _iter_packages(self) -> Iterator[Package]:
        return (package_of(r) for r in self._pages(files))

    def _fetch_many(self, filenames: Sequence[str]) -> dict[str, Package]:
        found: dict[str, Package] = {}
        for chunk in chunks(filenames, CHUNK):
            query = select(files).where(files.c.filename.in_(chunk))
            found.update((r.filename, package_of(r)) for r in self._read(partial(all_rows, query)))
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
        for chunk in chunks(sorted(names), CHUNK):
            rows = conn.execute(project_rows_query(files.c.name.in_(chunk))).all()
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
        rows = list({p.filename: file_row(p) for p in packages}.values())  # last one wins, as saved in turn

        def work(conn: Connection) -> None:
            names = {r["name"] for r in rows}
            lock_projects(conn, self._scope, names)
            earlier: set[str] = set()  # a filename saved before under another name: that project changes too
            for chunk in chunks([r["filename"] for r in rows], CHUNK):
                earlier.update(conn.execute(select(files.c.name).where(files.c.filename.in_(chunk))).scalars())
            lock_projects(conn, self._scope, earlier - names, first=False)
            for batch in chunks(rows, INSERT_BATCH):
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
            for batch in chunks(latest, INSERT_BATCH):
                self._insert_plain(conn, files, COLUMNS, [self._file_tuple(p) for p in batch])
            # the project rows from the packages at hand: a window query over
            # 100,000 rows costs MariaDB three times the insert itself
            summary = ProjectRows()
            summary.add(latest)
            self._insert_plain(conn, projects, PROJECT_COLUMNS, summary.rows(self._db_time))
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
        summary = ProjectRows()
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
                for chunk in chunks(latest, INSERT_BATCH):
                    self._insert_plain(conn, files, COLUMNS, [self._file_tuple(p) for p in chunk], upsert=True)
                again.update(p.name for p in latest if hash(p.name) in flushed)
                summary.add([p for p in latest if p.name not in again])
                added += len(latest)
                # a storage lists project by project: write the rows of the projects this batch
                # did not end with, so that memory holds a few projects, not all of them
                done = summary.pop_all_but(latest[-1].name) if latest else {}
                self._insert_plain(conn, projects, PROJECT_COLUMNS, ProjectRows.rows_of(done, self._db_time))
                flushed.update(map(hash, done))

            yield add
            if conn.execute(select(func.count()).select_from(files)).scalar() != added:
                # a filename came in two batches: every row from the files that stayed
                conn.execute(delete(projects))
                conn.execute(insert(projects).from_select(PROJECT_COLUMNS, project_rows_query(true())))
                return
            self._insert_plain(conn, projects, PROJECT_COLUMNS, summary.rows(self._db_time))
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

    def _file_tuple(self, p: Package) -> tuple[Any, ...]:
        return file_values(p, self._db_time(p.last_modified))

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
