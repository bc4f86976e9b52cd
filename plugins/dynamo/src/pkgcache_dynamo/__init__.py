"""pkgcache-dynamo: the DynamoDB backend of pkgcache, on boto3.

Chosen with ``pypi.db = dynamo``; registered as entry point ``dynamo`` of the
``pkgcache.backends`` group.
Both names are imported on first use (PEP 562): validating a configuration
imports ``pkgcache_dynamo.settings`` alone (entry point ``dynamo`` of
``pkgcache.backend_settings``), never boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cache import DynamoCache
    from .settings import DynamoSettings

__all__ = ["DynamoCache", "DynamoSettings"]


def __getattr__(name: str) -> Any:
    if name == "DynamoCache":
        from .cache import DynamoCache as found
    elif name == "DynamoSettings":
        from .settings import DynamoSettings as found  # type: ignore[assignment]
    else:
        raise AttributeError(f"module 'pkgcache_dynamo' has no attribute {name!r}")
    globals()[name] = found
    return found


def __dir__() -> list[str]:
    return sorted(__all__)
