"""Tables of the SQL backend, portable across SQLite, PostgreSQL and MySQL/MariaDB.

* ``pkgcache_files``: one row per file. ``sort_key`` is
  :attr:`pkgcache.Package.sort_key`, so ``all(name)`` is an index range
  scan on ``(name, sort_key)`` with ``ORDER BY sort_key DESC, filename``:
  no version is parsed in Python. ``name_folded`` and ``summary_folded``
  hold the casefolded name and summary so that search is a Unicode-correct,
  case-insensitive ``LIKE`` on every database (SQLite's ``lower()`` only
  knows ASCII; a normalized name is lowercased, not casefolded: ``straße``
  must match ``STRASSE``).
* ``pkgcache_projects``: one row per project (highest version's summary,
  newest time), kept right on every save and clear, so ``summary()`` and
  ``distinct()`` read 10,000 rows, not 100,000.
* ``pkgcache_meta``: the schema version, so that a release can migrate
  (version 2 added ``name_folded``, version 3 ``token``, the storage's change
  token of the file, so that a graceful reload reads only what changed). A table rather than Alembic: one small
  migration so far, and Alembic would add a dependency and a migrations
  folder for it.
* ``pkgcache_lock``: the reload lease on SQLite (PostgreSQL and MySQL use
  their own session locks); ``acquired_at`` is the time of the last renewal.
* ``pkgcache_project_locks``: on MySQL/MariaDB only, one row per project that
  a write locks (see ``_project_locks``).

A plain reload replaces the rows of the live tables in one transaction, so
the tables keep their identity: grants, index and constraint names.
Text that is compared or sorted uses a binary collation on every database
(``C`` on PostgreSQL, ``utf8mb4_nopad_bin`` on MariaDB and
``utf8mb4_0900_bin`` on MySQL 8, which unlike ``utf8mb4_bin`` do not ignore
trailing spaces; SQLite's default), so that keys compare byte for byte and
the order is code-point order, the same as Python's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import VARCHAR, Column, DateTime, Dialect, Index, MetaData, String, Table, Text
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "SCHEMA_VERSION",
    "TOKEN_CHARS",
    "files",
    "lock",
    "meta",
    "metadata",
    "project_locks",
    "projects",
    "use_dialect",
]

SCHEMA_VERSION = 4
#: a longer change token is not stored (the file is then re-read by every graceful reload)
TOKEN_CHARS = 255


class _OnMySQL(TypeDecorator[Any]):
    """A type of ``sqlalchemy.dialects.mysql``, built only when a MySQL or MariaDB dialect asks
    for it: importing that dialect costs more than the rest of a ``pkgcache list`` on SQLite.

    ``make`` names the class and its arguments: ``("VARCHAR", {"length": 255})``. On MySQL the
    column is exactly that type (DDL, binds, results); ``impl`` is the portable type it varies.
    """

    cache_ok = True

    def __init__(self, make: str, **kwargs: Any) -> None:
        super().__init__(*([kwargs["length"]] if "length" in kwargs and self.impl is String else []))
        self.make = make
        self.kwargs = tuple(sorted(kwargs.items()))  # hashable: part of the statement cache key

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        from sqlalchemy.dialects import mysql  # imported already: the engine's own dialect

        kwargs = dict(self.kwargs)
        collation = kwargs.get("collation")
        if collation == "utf8mb4_bin":
            kwargs["collation"] = _no_pad_collation(dialect)
        return dialect.type_descriptor(getattr(mysql, self.make)(**kwargs))


def _no_pad_collation(dialect: Dialect) -> str:
    """The binary utf8mb4 collation that does not ignore trailing spaces: ``utf8mb4_bin``
    is PAD SPACE (``'foo' = 'foo '``); MariaDB 10.2+ has ``utf8mb4_nopad_bin`` and
    MySQL 8 ``utf8mb4_0900_bin``. Older servers keep ``utf8mb4_bin``, where the
    identity rule (no key ends with a space) still keeps keys apart."""
    version = getattr(dialect, "server_version_info", None) or ()
    if getattr(dialect, "is_mariadb", False):
        return "utf8mb4_nopad_bin" if version >= (10, 2) else "utf8mb4_bin"
    return "utf8mb4_0900_bin" if version >= (8, 0) else "utf8mb4_bin"


class _MySQLString(_OnMySQL):
    impl = String


class _MySQLText(_OnMySQL):
    impl = Text


class _MySQLDateTime(_OnMySQL):
    impl = DateTime


def _text_key(length: int, ascii_only: bool = False) -> TypeEngine[str]:
    """A string compared in code-point order on every database."""
    charset = "ascii" if ascii_only else "utf8mb4"
    return (
        String(length)
        .with_variant(VARCHAR(length, collation="C"), "postgresql")  # postgresql.VARCHAR is this class
        .with_variant(
            _MySQLString("VARCHAR", length=length, charset=charset, collation=f"{charset}_bin"), "mysql", "mariadb"
        )
    )


def _long_text() -> TypeEngine[str]:
    return Text().with_variant(_MySQLText("MEDIUMTEXT", charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


def _time() -> TypeEngine[datetime]:
    return DateTime().with_variant(_MySQLDateTime("DATETIME", fsp=6), "mysql", "mariadb")


metadata = MetaData()


files = Table(
    "pkgcache_files",
    metadata,
    Column("filename", _text_key(255), primary_key=True),
    Column("name", _text_key(255), nullable=False),
    Column("version", _text_key(512), nullable=False),
    Column("sort_key", _text_key(768, ascii_only=True), nullable=False),
    Column("last_modified", _time(), nullable=False),
    Column("summary", _long_text(), nullable=True),
    Column("summary_folded", _long_text(), nullable=False),
    Column("data", _long_text(), nullable=False),
    # added in schema version 2, so last: ALTER TABLE ADD COLUMN appends
    Column("name_folded", _text_key(255), nullable=False, server_default=""),
    # added in schema version 3: Package.token, NULL when unknown
    Column("token", String(TOKEN_CHARS), nullable=True),
    Index("ix_pkgcache_files_name_sort_key", "name", "sort_key"),
)
projects = Table(
    "pkgcache_projects",
    metadata,
    Column("name", _text_key(255), primary_key=True),
    Column("summary", _long_text(), nullable=True),
    Column("last_modified", _time(), nullable=False),
    # a new random value at every write to the project's files: with the reload generation
    # of ``pkgcache_meta``, what an index server validates its pages with (NULL after a plain reload)
    Column("serial", String(32), nullable=True),
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

project_locks = Table(
    "pkgcache_project_locks",
    MetaData(),  # created on MySQL/MariaDB only, by the cache
    Column("name", _text_key(255), primary_key=True),
)


def use_dialect(name: str) -> None:
    """Give the tables the options of dialect ``name`` before they are created on it.

    The ``utf8mb4`` default charset of the tables on MySQL/MariaDB is set here and
    not as ``Table(..., mysql_charset=...)``: SQLAlchemy imports a dialect to check
    its table options, and importing the MySQL dialect costs every command on SQLite
    or PostgreSQL more than the rest of its start. Idempotent; the cache calls it
    with its engine's dialect before its first statement.
    """
    if name in ("mysql", "mariadb"):
        for table in (files, projects, project_locks):
            for dialect in ("mysql", "mariadb"):
                table.dialect_options[dialect]["charset"] = "utf8mb4"
