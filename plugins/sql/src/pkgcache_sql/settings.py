"""The ``db.*`` keys of the SQL backend, checked before any connection is made.

Checked without importing SQLAlchemy or a driver (``pkgcache validate`` starts
in a fraction of SQLAlchemy's import time): the URL is read as SQLAlchemy
reads it (``_url``) and the driver's module is looked for, not imported. A
URL of a dialect or driver ``_url`` does not know, and ``db.poolclass``, are
still checked with SQLAlchemy itself.
"""

from __future__ import annotations

import importlib.util
import pkgutil
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from pkgcache import BackendSettings, SecretUrl
from pkgcache.plugin import PERCENT_ENCODING_ADVICE, password_needs_encoding

from ._url import DEFAULT_DRIVERS, known_driver, parse

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["DEFAULT_DRIVERS", "SQLSettings", "engine_url"]

#: which extra of pkgcache-sql brings the driver of a dialect
EXTRAS = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}


def engine_url(url: str) -> URL:
    """The SQLAlchemy URL to connect to, with our default driver filled in."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername in DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=DEFAULT_DRIVERS[parsed.drivername])
    return parsed


def _not_a_url(raw: str, masked: str) -> ValueError:
    advice = (
        PERCENT_ENCODING_ADVICE
        if password_needs_encoding(raw)
        else "write dialect[+driver]://user:password@host/database or sqlite:///path.db"
    )
    return ValueError(f"{masked!r} is not a SQLAlchemy URL: {advice}")


def _missing_driver(backend: str, driver: str, module: str | None) -> ValueError:
    extra = EXTRAS.get(backend)
    advice = f"pip install 'pkgcache-sql[{extra}]'" if extra else f"install the {driver!r} driver"
    return ValueError(f"the {driver!r} driver for {backend} is not installed ({module}): {advice}")


def _missing_module(modules: tuple[str, ...]) -> str | None:
    """The first of ``modules`` that cannot be found (without importing it), or None."""
    for module in modules:
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except (ImportError, ValueError):
            return module
    return None


def check_url(raw: str, masked: str) -> None:
    """Raise ValueError, with the remedy, when ``raw`` cannot be a URL pkgcache connects to.

    The dialects and drivers ``_url`` knows are checked without SQLAlchemy; any
    other by SQLAlchemy (:func:`check_url_with_sqlalchemy`), to the same messages.
    """
    if password_needs_encoding(raw, "@"):
        raise ValueError(f"the URL's user or password holds a raw @ that splits the URL: {PERCENT_ENCODING_ADVICE}")
    if raw.startswith(("postgres://", "postgres+")):  # Heroku's and libpq's spelling; SQLAlchemy 2 refuses it
        raise ValueError("SQLAlchemy names PostgreSQL 'postgresql': write postgresql:// instead of postgres://")
    try:
        url = parse(raw)
    except ValueError:
        raise _not_a_url(raw, masked) from None
    known = known_driver(url.drivername)
    if known is None:
        check_url_with_sqlalchemy(raw, masked)
        return
    backend = url.backend_name
    if backend in ("mysql", "mariadb") and "charset" not in url.query:
        raise ValueError(f"a {backend} URL needs a charset for 4-byte Unicode: add ?charset=utf8mb4")
    driver, modules = known
    missing = _missing_module(modules)
    if missing is not None:
        raise _missing_driver(backend, driver, missing)


def check_url_with_sqlalchemy(raw: str, masked: str) -> None:
    """:func:`check_url` by SQLAlchemy itself: it imports the dialect and its driver."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    if password_needs_encoding(raw, "@"):
        raise ValueError(f"the URL's user or password holds a raw @ that splits the URL: {PERCENT_ENCODING_ADVICE}")
    try:
        url = engine_url(raw)
    except (ArgumentError, ValueError):
        raise _not_a_url(raw, masked) from None
    backend = url.get_backend_name()
    if backend in ("mysql", "mariadb") and "charset" not in url.query:
        raise ValueError(f"a {backend} URL needs a charset for 4-byte Unicode: add ?charset=utf8mb4")
    try:
        url.get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise ValueError(f"SQLAlchemy has no dialect {url.drivername!r}") from None
    except ImportError as err:
        raise _missing_driver(backend, url.get_driver_name(), err.name) from None


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
    pool_pre_ping: bool = Field(
        False,
        description="Test each connection before use (one more round trip per call; without it a read "
        "or write that meets a dropped connection is retried once on a fresh one)",
    )
    echo: bool = Field(False, description="Log every SQL statement")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretUrl) -> SecretUrl:
        check_url(value.get_secret_value(), value.masked)
        return value

    @field_validator("poolclass")
    @classmethod
    def _check_poolclass(cls, value: str | None) -> str | None:
        if value is not None:
            pool_class(value)
        return value

    def broken_rules(self) -> Iterator[tuple[str | None, str]]:
        if self.poolclass is None:
            return
        import inspect

        parameters = inspect.signature(pool_class(self.poolclass)).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        for option in ("pool_size", "max_overflow"):
            if getattr(self, option) is not None and not takes_any and option not in parameters:
                yield option, f"{self.poolclass} takes no db.{option}: drop it, or choose sqlalchemy.pool.QueuePool"


def pool_class(path: str) -> Any:
    """The pool class named by ``module.Class`` or ``module:Class``."""
    from sqlalchemy.pool import Pool

    try:
        found = pkgutil.resolve_name(path)
    except (ImportError, AttributeError, ValueError):
        raise ValueError(f"cannot import pool class {path!r}; try sqlalchemy.pool.NullPool") from None
    if not (isinstance(found, type) and issubclass(found, Pool)):
        raise ValueError(f"{path!r} is not a SQLAlchemy pool class; try sqlalchemy.pool.NullPool")
    return found
