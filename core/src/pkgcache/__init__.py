"""pkgcache: the metadata cache of a private Python package index.

The public API is importable from here; see the README for a tour. Names are
imported on first use (PEP 562), so that ``pkgcache validate`` or ``pkgcache
backends`` pay only for what they touch; and no backend is ever imported
here: SQLAlchemy, redis and boto3 come only with their backend.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .exceptions import (
    BackendNotInstalled,
    CacheBusy,
    CacheError,
    CacheFull,
    CacheRefused,
    CacheUnavailable,
    ConfigError,
    InvalidPackage,
    MetadataOutOfReach,
    PackageExists,
    PkgcacheError,
    Problem,
    ReloadRefused,
    SearchTermTooLong,
    StorageUnavailable,
)

if TYPE_CHECKING:
    from ._api import load_cache
    from ._hooks import new_plugin_manager
    from ._metadata import read_core_metadata
    from ._plugin_settings import BackendSettings, StorageSettings
    from ._reload import ReloadResult
    from ._secrets import SecretUrl, mask_url, scrub, url_secrets
    from .cache import Cache, sort_packages, summarize
    from .hookspecs import hookimpl
    from .package import Package, normalize_name
    from .settings import Settings, load_settings
    from .storage import Skipped, Storage

#: public name -> the module that defines it
_LAZY = {
    "load_cache": "._api",
    "new_plugin_manager": "._hooks",
    "read_core_metadata": "._metadata",
    "BackendSettings": "._plugin_settings",
    "StorageSettings": "._plugin_settings",
    "ReloadResult": "._reload",
    "SecretUrl": "._secrets",
    "mask_url": "._secrets",
    "scrub": "._secrets",
    "url_secrets": "._secrets",
    "Cache": ".cache",
    "sort_packages": ".cache",
    "summarize": ".cache",
    "hookimpl": ".hookspecs",
    "Package": ".package",
    "normalize_name": ".package",
    "Settings": ".settings",
    "load_settings": ".settings",
    "Skipped": ".storage",
    "Storage": ".storage",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pkgcache' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # once found, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "BackendNotInstalled",
    "BackendSettings",
    "Cache",
    "CacheBusy",
    "CacheError",
    "CacheFull",
    "CacheRefused",
    "CacheUnavailable",
    "ConfigError",
    "InvalidPackage",
    "MetadataOutOfReach",
    "Package",
    "PackageExists",
    "PkgcacheError",
    "Problem",
    "ReloadRefused",
    "ReloadResult",
    "SearchTermTooLong",
    "SecretUrl",
    "Settings",
    "Skipped",
    "Storage",
    "StorageSettings",
    "StorageUnavailable",
    "__version__",
    "hookimpl",
    "load_cache",
    "load_settings",
    "mask_url",
    "new_plugin_manager",
    "normalize_name",
    "read_core_metadata",
    "scrub",
    "sort_packages",
    "summarize",
    "url_secrets",
]
