"""Which :class:`pkgcache.CacheError` a database error is, by its cause.

``CacheUnavailable`` is kept for a server that cannot be reached or timed
out; a full disk, a deadlock that outlived its retries, a too-long search
pattern and an over-size value each get their own class and a message
that names the cause. The codes are the drivers' own: SQLite's result
code names, PostgreSQL's SQLSTATE, MySQL's error numbers.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from pkgcache import (
    CacheBusy,
    CacheFull,
    CacheRefused,
    CacheUnavailable,
    InvalidPackage,
    PkgcacheError,
    SearchTermTooLong,
)

__all__ = ["classify", "first_line", "is_retryable", "quiet_psycopg_cleanup"]

_PG_BUSY = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available
_MYSQL_BUSY = {1205, 1213}  # lock wait timeout, deadlock
_MYSQL_FULL = {1021, 1114, 3, 1030}  # disk full, table full, error writing file, storage engine error
_MYSQL_TOO_BIG = {1406, 1118, 1153, 1301}  # data too long, row size, packet, result too big
_SQLITE_BUSY = {"SQLITE_BUSY", "SQLITE_LOCKED"}

#: the longest search term SQLite's LIKE takes: its pattern limit is 50,000 bytes, and a
#: character is at most 4 bytes in UTF-8 (an escaped wildcard 2), plus the two ``%``
SQLITE_MAX_TERM = 12_000


def first_line(err: BaseException) -> str:
    orig: Any = getattr(err, "orig", None) or err
    text = str(orig).strip()
    return text.splitlines()[0] if text else type(orig).__name__


def _code(err: DBAPIError) -> tuple[str, Any]:
    """(kind, code): ("pg", SQLSTATE) or ("mysql", number) or ("sqlite", result code name)."""
    orig: Any = err.orig
    if getattr(orig, "sqlite_errorname", None):
        return "sqlite", orig.sqlite_errorname
    args: tuple[Any, ...] = getattr(orig, "args", ())
    if args and isinstance(args[0], int):  # PyMySQL: (number, message); it has a sqlstate too
        return "mysql", args[0]
    return "pg", getattr(orig, "sqlstate", None)


def is_retryable(err: DBAPIError) -> bool:
    kind, code = _code(err)
    return (kind == "pg" and code in _PG_BUSY) or (kind == "mysql" and code in _MYSQL_BUSY)


def classify(err: Exception, address: str, attempts: int = 1) -> PkgcacheError | None:
    """The error to raise instead of ``err``, or None to let ``err`` through."""
    if not isinstance(err, DBAPIError):
        return None
    kind, code = _code(err)
    line = first_line(err)
    if (kind == "pg" and code == "53100") or (kind == "mysql" and code in _MYSQL_FULL) or code == "SQLITE_FULL":
        return CacheFull(f"sql backend at {address}: database or disk is full: {line}")
    if is_retryable(err) or code in _SQLITE_BUSY:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return CacheBusy(f"sql backend at {address}: deadlock or lock timeout{tries}, try again later: {line}")
    if "pattern too complex" in line:
        return SearchTermTooLong(f"search term too long: at most {SQLITE_MAX_TERM} characters")
    if (
        (kind == "pg" and code in ("22001", "54000"))
        or (kind == "mysql" and code in _MYSQL_TOO_BIG)
        or code == "SQLITE_TOOBIG"
    ):
        return InvalidPackage(f"sql backend at {address} cannot store a value longer than its column allows: {line}")
    if kind == "pg" and code == "57014":
        return CacheUnavailable(f"sql backend at {address} timed out: {line}")
    if code == "SQLITE_CANTOPEN" or line == "unable to open database file":  # a local file: say what to check
        return CacheUnavailable(
            f"sql backend cannot open the SQLite database {address}: {line}: "
            "check that its folder exists and is writable"
        )
    refused = _refused(kind, code, line, address)
    if refused is not None:
        return refused
    if isinstance(err, (OperationalError, InterfaceError)) or err.connection_invalidated:
        return CacheUnavailable(f"sql backend cannot reach {address}: {line}")
    return None


#: MySQL/MariaDB: access denied (user, password, database), unknown database
_MYSQL_REFUSED = {1044: "access", 1045: "access", 1698: "access", 1251: "access", 1049: "database"}
#: PostgreSQL's connection refusals: psycopg gives no SQLSTATE for them, only the server's text
_PG_REFUSED = re.compile(r"FATAL:\s+(?P<reason>.*)")
_REMEDY = {
    "database": "create it or fix db.url",
    "access": "fix the user or password in db.url, or grant that user access",
}


def _refused(kind: str, code: Any, line: str, address: str) -> CacheRefused | None:
    """The server answered and said no (not a network problem): its reason and what to fix."""
    where = urlsplit(address)
    host = f"{where.hostname}:{where.port}" if where.port else str(where.hostname)
    if kind == "mysql" and code in _MYSQL_REFUSED:
        reason = re.sub(r"^\(\d+, ['\"](.*)['\"]\)$", r"\1", line)
        return CacheRefused(f"MySQL at {host} refused: {reason}: {_REMEDY[_MYSQL_REFUSED[code]]}")
    match = _PG_REFUSED.search(line) if kind == "pg" else None
    if match is None:
        return None
    reason = match["reason"].strip()
    about = "database" if reason.startswith("database ") else "access"
    if not (about == "database" or reason.startswith(("role ", "password ", "no pg_hba", "permission "))):
        return None  # "the database system is starting up" and the like: try again later
    return CacheRefused(f"PostgreSQL at {host} refused: {reason}: {_REMEDY[about]}")


class _DropCleanupNoise(logging.Filter):
    """psycopg logs "error ignored terminating <psycopg.Pipeline [BAD] ...>" when a lost
    connection also fails the pipeline's cleanup; the first error is what we raise (as
    :class:`CacheUnavailable`), so this second one says nothing new to the user."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored terminating")


_FILTER = _DropCleanupNoise()


def quiet_psycopg_cleanup() -> None:
    """Install the filter on psycopg's logger (once; idempotent)."""
    logger = logging.getLogger("psycopg")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
