"""pkgcache-sql: the SQL backend of pkgcache (SQLite, PostgreSQL, MySQL/MariaDB).

Chosen with ``pypi.db = sql``; registered as entry point ``sql`` of the
``pkgcache.backends`` group, and its settings model as ``sql`` of
``pkgcache.backend_settings``. Both names are imported on first use (PEP 562):
``pkgcache validate`` imports ``pkgcache_sql.settings`` alone, never the
cache, so never SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cache import SQLCache
    from .settings import SQLSettings

__all__ = ["SQLCache", "SQLSettings"]


def __getattr__(name: str) -> Any:
    if name == "SQLCache":
        from .cache import SQLCache as found
    elif name == "SQLSettings":
        from .settings import SQLSettings as found  # type: ignore[assignment]
    else:
        raise AttributeError(f"module 'pkgcache_sql' has no attribute {name!r}")
    globals()[name] = found
    return found


def __dir__() -> list[str]:
    return sorted(__all__)
