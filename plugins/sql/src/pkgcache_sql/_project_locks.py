"""Locks that keep ``pkgcache_projects`` right under concurrent writers.

Each write recomputes the rows of the projects it touched from their files.
Two transactions touching one project at once would each recompute from a
view that lacks the other's uncommitted files, and the later commit would
leave a stale row (or delete the row of a project that still has files).
So a write first takes, in one fixed order, an exclusive lock per project
it touches, held until its commit: the transactions on one project run one
after the other, and each recomputes from everything committed before it.
Writes to different projects still run side by side. ``clear_all`` and a
plain reload take one database-wide lock exclusively that every writer
holds shared, so they never interleave with a per-project write.

* PostgreSQL: transaction-level advisory locks (``pg_advisory_xact_lock``)
  keyed by ``hashtext(name)``: no table, no rows to clean up, freed by the
  commit or by the server when the session dies. The default READ
  COMMITTED isolation gives each statement taken after the lock a fresh
  snapshot. The keys are scoped to the schema (advisory locks are per
  database already).
* MySQL/MariaDB: ``GET_LOCK`` is per session, not per transaction, so a row
  lock instead: one row per project in ``pkgcache_project_locks``, taken
  by an ``INSERT ... ON DUPLICATE KEY UPDATE`` (InnoDB locks the row
  exclusively until commit), and the row ``''`` locked shared or exclusive
  for the database-wide lock. Write transactions run in READ COMMITTED, as
  InnoDB's REPEATABLE READ would recompute from the snapshot taken at the
  first read and miss what the previous holder committed.
* SQLite: nothing; writers start with ``BEGIN IMMEDIATE`` and so run one at
  a time already.

Deadlocks that remain (InnoDB's gap locks, a project met only after its
files were read) are retried by the caller.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from .schema import project_locks

__all__ = ["lock_everything", "lock_projects", "signed32"]

_EVERYTHING = ""  # never a project name


def signed32(value: str) -> int:
    """A stable int4 from a string (PostgreSQL's two-key advisory locks take int4)."""
    n = zlib.crc32(value.encode())
    return n - 2**32 if n >= 2**31 else n


def _pg_keys(scope: str) -> tuple[int, int]:
    return signed32(f"pkgcache-projects:{scope}"), signed32(f"pkgcache-everything:{scope}")


def lock_projects(conn: Connection, scope: str, names: Iterable[str], first: bool = True) -> None:
    """Lock ``names`` until commit; ``first`` also takes the database-wide lock shared
    (every write does, once, before any project)."""
    dialect = conn.dialect.name
    wanted = sorted(set(names))
    if dialect == "postgresql":
        projects_key, everything = _pg_keys(scope)
        if first:
            conn.execute(text("SELECT pg_advisory_xact_lock_shared(:a, 0)"), {"a": everything})
        if wanted:  # in the order of the keys, so two writers never wait for each other in a circle
            conn.execute(
                text(
                    "SELECT pg_advisory_xact_lock(:a, k) FROM "
                    "(SELECT DISTINCT hashtext(n) AS k FROM unnest(CAST(:names AS text[])) AS n ORDER BY k) AS keys"
                ),
                {"a": projects_key, "names": wanted},
            )
    elif dialect in ("mysql", "mariadb"):
        if first:
            conn.execute(
                select(project_locks.c.name).where(project_locks.c.name == _EVERYTHING).with_for_update(read=True)
            )
        if wanted:
            conn.execute(
                text(f"INSERT INTO {project_locks.name} (name) VALUES (:name) ON DUPLICATE KEY UPDATE name = name"),
                [{"name": n} for n in wanted],
            )


def lock_everything(conn: Connection, scope: str) -> None:
    """Wait for every running write and keep new ones out until commit."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:a, 0)"), {"a": _pg_keys(scope)[1]})
    elif dialect in ("mysql", "mariadb"):
        conn.execute(select(project_locks.c.name).where(project_locks.c.name == _EVERYTHING).with_for_update())


def create_everything_row(conn: Connection) -> None:
    """The row of the database-wide lock must exist before anyone locks it."""
    everything = select(project_locks.c.name).where(project_locks.c.name == _EVERYTHING)
    # a plain read first: an INSERT IGNORE would wait for a reload that holds the row
    if conn.dialect.name in ("mysql", "mariadb") and conn.execute(everything).first() is None:
        conn.execute(text(f"INSERT IGNORE INTO {project_locks.name} (name) VALUES (:n)"), {"n": _EVERYTHING})
