"""pkgcache-s3: the S3 storage of pkgcache, on boto3.

Chosen with ``pypi.storage = s3`` (or pypicloud's ``pypicloud.storage.S3Storage``);
registered as entry point ``s3`` of the ``pkgcache.storages`` group.
Both names are imported on first use (PEP 562): validating a configuration
imports ``pkgcache_s3.settings`` alone (entry point ``s3`` of
``pkgcache.storage_settings``), never boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import S3Settings
    from .storage import S3Storage

__all__ = ["S3Settings", "S3Storage"]


def __getattr__(name: str) -> Any:
    if name == "S3Storage":
        from .storage import S3Storage as found
    elif name == "S3Settings":
        from .settings import S3Settings as found  # type: ignore[assignment]
    else:
        raise AttributeError(f"module 'pkgcache_s3' has no attribute {name!r}")
    globals()[name] = found
    return found


def __dir__() -> list[str]:
    return sorted(__all__)
