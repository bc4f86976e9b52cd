"""Tables of the SQL backend, portable across SQLite, PostgreSQL and MySQL/MariaDB.

* ``pkgcache_files``: one row per file. ``sort_key`` is
  :attr:`pkgcache.Package.sort_key`, so ``all(name)`` is an index range
  scan on ``(name, sort_key)`` with ``ORDER BY sort_key DESC, filename``:
  no version is parsed in Python. ``summary_folded`` holds the casefolded
  summary so that search is a Unicode-correct, case-insensitive ``LIKE``
  on every database (SQLite's ``lower()`` only knows ASCII).
* ``pkgcache_projects``: one row per project (highest version's summary,
  newest time), kept right on every save and clear, so ``summary()`` and
  ``distinct()`` read 10,000 rows, not 100,000.
* ``pkgcache_meta``: the schema version, so that a later release can
  migrate. A table rather than Alembic: one schema so far, and Alembic would
  add a dependency and a migrations folder for nothing yet.
* ``pkgcache_lock``: the reload lock on SQLite (PostgreSQL and MySQL use
  their own advisory locks).

A plain reload fills two staging tables of the same shape and renames them
over the live ones (in one transaction on SQLite and PostgreSQL, whose DDL
is transactional; with one atomic ``RENAME TABLE`` on MySQL/MariaDB), so
the rows are inserted into empty tables and the old ones are dropped whole.

Text that is compared or sorted uses a binary collation on every database
(``C`` on PostgreSQL, ``utf8mb4_bin`` on MySQL; SQLite's default), so that
the order is code-point order, the same as Python's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, Text
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.types import TypeEngine

__all__ = ["SCHEMA_VERSION", "files", "lock", "meta", "metadata", "projects", "staging_tables"]

SCHEMA_VERSION = 1


def _text_key(length: int, ascii_only: bool = False) -> TypeEngine[str]:
    """A string compared in code-point order on every database."""
    charset = "ascii" if ascii_only else "utf8mb4"
    return (
        String(length)
        .with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql")
        .with_variant(mysql.VARCHAR(length, charset=charset, collation=f"{charset}_bin"), "mysql", "mariadb")
    )


def _long_text() -> TypeEngine[str]:
    return Text().with_variant(mysql.MEDIUMTEXT(charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


def _time() -> TypeEngine[datetime]:
    return DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


metadata = MetaData()


def _files_table(into: MetaData, name: str, index_name: str) -> Table:
    return Table(
        name,
        into,
        Column("filename", _text_key(255), primary_key=True),
        Column("name", _text_key(255), nullable=False),
        Column("version", _text_key(512), nullable=False),
        Column("sort_key", _text_key(768, ascii_only=True), nullable=False),
        Column("last_modified", _time(), nullable=False),
        Column("summary", _long_text(), nullable=True),
        Column("summary_folded", _long_text(), nullable=False),
        Column("data", _long_text(), nullable=False),
        Index(index_name, "name", "sort_key"),
        mysql_charset="utf8mb4",
        mariadb_charset="utf8mb4",
    )


def _projects_table(into: MetaData, name: str) -> Table:
    return Table(
        name,
        into,
        Column("name", _text_key(255), primary_key=True),
        Column("summary", _long_text(), nullable=True),
        Column("last_modified", _time(), nullable=False),
        mysql_charset="utf8mb4",
        mariadb_charset="utf8mb4",
    )


files = _files_table(metadata, "pkgcache_files", "ix_pkgcache_files_name_sort_key")
projects = _projects_table(metadata, "pkgcache_projects")


def staging_tables(suffix: str) -> tuple[Table, Table]:
    """Fresh tables of the same shape for a plain reload to fill and swap in.

    Index names are unique per schema on PostgreSQL and SQLite, so the
    staging index carries the suffix too; it keeps that name after the swap.
    """
    into = MetaData()
    return (
        _files_table(into, f"pkgcache_files_{suffix}", f"ix_pkgcache_files_{suffix}"),
        _projects_table(into, f"pkgcache_projects_{suffix}"),
    )


meta = Table(
    "pkgcache_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)

lock = Table(
    "pkgcache_lock",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("acquired_at", DateTime(), nullable=False),
)
