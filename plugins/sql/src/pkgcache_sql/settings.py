"""The ``db.*`` keys of the SQL backend, checked before any connection is made."""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import Field, field_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from pkgcache import BackendSettings, SecretUrl

__all__ = ["SQLSettings", "engine_url"]

#: a URL without a driver gets the one our extras install (SQLAlchemy's own
#: defaults, psycopg2 and mysqlclient, need a compiler and are not ours)
DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}
#: which extra of pkgcache-sql brings the driver of a dialect
EXTRAS = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}


def engine_url(url: str) -> URL:
    """The SQLAlchemy URL to connect to, with our default driver filled in."""
    parsed = make_url(url)
    if parsed.drivername in DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=DEFAULT_DRIVERS[parsed.drivername])
    return parsed


class SQLSettings(BackendSettings):
    """Settings of ``pypi.db = sql``."""

    url: SecretUrl = Field(
        description="SQLAlchemy URL: sqlite:///path.db, sqlite:// (in memory), "
        "postgresql://user:pw@host/db, mysql://user:pw@host/db?charset=utf8mb4",
    )
    poolclass: str | None = Field(
        None, description="Dotted path of a SQLAlchemy pool class, e.g. sqlalchemy.pool.NullPool"
    )
    pool_size: int | None = Field(None, ge=1, description="Connections kept open (QueuePool)")
    max_overflow: int | None = Field(None, ge=0, description="Extra connections allowed beyond pool_size")
    pool_recycle: int | None = Field(None, ge=-1, description="Seconds after which a connection is replaced")
    pool_pre_ping: bool = Field(True, description="Test each connection before use (survives server restarts)")
    echo: bool = Field(False, description="Log every SQL statement")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretUrl) -> SecretUrl:
        raw = value.get_secret_value()
        try:
            url = engine_url(raw)
        except ArgumentError:
            raise ValueError(
                f"{value.masked!r} is not a SQLAlchemy URL: write dialect[+driver]://user:password@host/database "
                "or sqlite:///path.db"
            ) from None
        backend = url.get_backend_name()
        if backend in ("mysql", "mariadb") and "charset" not in url.query:
            raise ValueError(f"a {backend} URL needs a charset for 4-byte Unicode: add ?charset=utf8mb4")
        try:
            url.get_dialect().import_dbapi()
        except NoSuchModuleError:
            raise ValueError(f"SQLAlchemy has no dialect {url.drivername!r}") from None
        except ImportError as err:
            extra = EXTRAS.get(backend)
            advice = (
                f"pip install 'pkgcache-sql[{extra}]'" if extra else f"install the {url.get_driver_name()!r} driver"
            )
            raise ValueError(
                f"the {url.get_driver_name()!r} driver for {backend} is not installed ({err.name}): {advice}"
            ) from None
        return value

    @field_validator("poolclass")
    @classmethod
    def _check_poolclass(cls, value: str | None) -> str | None:
        if value is not None:
            pool_class(value)
        return value


def pool_class(path: str) -> Any:
    """Import a pool class from ``module.Class`` or ``module:Class``."""
    from sqlalchemy.pool import Pool

    module, sep, attr = path.partition(":")
    if not sep:
        module, _, attr = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        raise ValueError(f"cannot import pool class {path!r}; try sqlalchemy.pool.NullPool") from None
    if not (isinstance(found, type) and issubclass(found, Pool)):
        raise ValueError(f"{path!r} is not a SQLAlchemy pool class; try sqlalchemy.pool.NullPool")
    return found
