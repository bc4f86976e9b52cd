"""Reading a database URL without importing SQLAlchemy, so that ``pkgcache validate`` starts fast.

SQLAlchemy's import alone costs more CPU than the rest of ``pkgcache
validate``, and its dialects import their drivers to check them. The
checks of ``db.url`` need far less: the dialect and driver names and the
query keys, and whether the driver's module can be found. :func:`parse`
reads a URL with the very pattern of ``sqlalchemy.engine.url.make_url``
(tests hold the two equal on generated URLs) and :func:`known_driver`
names the driver modules of the dialects we know; a URL of another dialect is
still checked by SQLAlchemy itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

__all__ = ["DEFAULT_DRIVERS", "DIALECT_DRIVERS", "ParsedUrl", "known_driver", "parse"]

#: a URL without a driver gets the one our extras install (SQLAlchemy's own
#: defaults, psycopg2 and mysqlclient, need a compiler and are not ours)
DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}

#: ``dialect+driver`` -> (the driver's name, the modules SQLAlchemy imports as its DBAPI):
#: only dialects SQLAlchemy 2 ships (so the dialect exists) and drivers whose modules can
#: be found without importing anything (finding ``mysql.connector`` would import ``mysql``)
DIALECT_DRIVERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sqlite": ("pysqlite", ("sqlite3", "_sqlite3")),  # pysqlite: the default driver of sqlite
    "sqlite+pysqlite": ("pysqlite", ("sqlite3", "_sqlite3")),
    "postgresql+psycopg": ("psycopg", ("psycopg",)),
    "postgresql+psycopg2": ("psycopg2", ("psycopg2",)),
    "postgresql+pg8000": ("pg8000", ("pg8000",)),
    "mysql+pymysql": ("pymysql", ("pymysql",)),
    "mysql+mysqldb": ("mysqldb", ("MySQLdb",)),
    "mariadb+pymysql": ("pymysql", ("pymysql",)),
    "mariadb+mysqldb": ("mysqldb", ("MySQLdb",)),
    "mariadb+mariadbconnector": ("mariadbconnector", ("mariadb",)),
}

# sqlalchemy.engine.url._parse_url's pattern, unchanged (the same in SQLAlchemy 2.0 and 2.1)
_PATTERN = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:
            (?P<username>[^:/]*)
            (?::(?P<password>[^@]*))?
        @)?
        (?:
            (?:
                \[(?P<ipv6host>[^/\?]+)\] |
                (?P<ipv4host>[^/:\?]+)
            )?
            (?::(?P<port>[^/\?]*))?
        )?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
        """,
    re.X,
)


@dataclass(frozen=True)
class ParsedUrl:
    """The parts of a URL as ``make_url`` reads them (``query`` as a dict of str or tuple of str)."""

    drivername: str
    username: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str | None
    query: dict[str, str | tuple[str, ...]]

    @property
    def backend_name(self) -> str:
        """``postgresql`` of ``postgresql+psycopg``, as ``URL.get_backend_name``."""
        return self.drivername.split("+")[0]


def parse(url: str) -> ParsedUrl:
    """Read ``url`` as ``sqlalchemy.engine.make_url`` does; ValueError where it raises
    (ArgumentError for a string it cannot read, ValueError for a port that is not a number)."""
    m = _PATTERN.match(url)
    if m is None:
        raise ValueError("Could not parse SQLAlchemy URL from given URL string")
    parts = m.groupdict()
    query: dict[str, str | tuple[str, ...]] = {}
    if parts["query"] is not None:
        for key, value in parse_qsl(parts["query"]):
            if key in query:
                before = query[key]
                query[key] = (*((before,) if isinstance(before, str) else before), value)
            else:
                query[key] = value
    username, password, database = (
        None if parts[k] is None else unquote(parts[k]) for k in ("username", "password", "database")
    )
    return ParsedUrl(
        drivername=parts["name"],
        username=username,
        password=password,
        host=parts["ipv4host"] or parts["ipv6host"],
        port=None if parts["port"] is None else int(parts["port"]),  # "" too raises, as in make_url
        database=database,
        query=query,
    )


def known_driver(drivername: str) -> tuple[str, tuple[str, ...]] | None:
    """The driver's name and DBAPI modules of ``drivername`` once our default driver is
    filled in, or None for a dialect or driver this table does not know (ask SQLAlchemy)."""
    return DIALECT_DRIVERS.get(DEFAULT_DRIVERS.get(drivername, drivername))
