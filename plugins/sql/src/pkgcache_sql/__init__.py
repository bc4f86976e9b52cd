"""pkgcache-sql: the SQL backend of pkgcache (SQLite, PostgreSQL, MySQL/MariaDB).

Chosen with ``pypi.db = sql``; registered as entry point ``sql`` of the
``pkgcache.backends`` group.
"""

from .cache import SQLCache
from .settings import SQLSettings

__all__ = ["SQLCache", "SQLSettings"]
