"""pkgcache-redis: the Redis backend of pkgcache, standalone or Redis Cluster.

Chosen with ``pypi.db = redis``; registered as entry point ``redis`` of the
``pkgcache.backends`` group.
Both names are imported on first use (PEP 562): validating a configuration
imports ``pkgcache_redis.settings`` alone (entry point ``redis`` of
``pkgcache.backend_settings``), never redis-py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cache import RedisCache
    from .settings import RedisSettings

__all__ = ["RedisCache", "RedisSettings"]


def __getattr__(name: str) -> Any:
    if name == "RedisCache":
        from .cache import RedisCache as found
    elif name == "RedisSettings":
        from .settings import RedisSettings as found  # type: ignore[assignment]
    else:
        raise AttributeError(f"module 'pkgcache_redis' has no attribute {name!r}")
    globals()[name] = found
    return found


def __dir__() -> list[str]:
    return sorted(__all__)
