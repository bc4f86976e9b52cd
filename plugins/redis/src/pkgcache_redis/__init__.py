"""pkgcache-redis: the Redis backend of pkgcache, standalone or Redis Cluster.

Chosen with ``pypi.db = redis``; registered as entry point ``redis`` of the
``pkgcache.backends`` group.
"""

from .cache import RedisCache
from .settings import RedisSettings

__all__ = ["RedisCache", "RedisSettings"]
