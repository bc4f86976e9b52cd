"""pkgcache: the metadata cache of a private Python package index.

The public API is importable from here; see the README for a tour. Importing
this package loads no backend: SQLAlchemy, redis and boto3 are imported only
when their backend is chosen.
"""

from ._api import load_cache
from ._models import BackendSettings, SecretUrl, StorageSettings, mask_url
from ._reload import ReloadResult
from ._version import __version__
from .cache import Cache, sort_packages, summarize
from .exceptions import (
    BackendNotInstalled,
    CacheUnavailable,
    ConfigError,
    InvalidPackage,
    PackageExists,
    PkgcacheError,
    Problem,
)
from .hookspecs import hookimpl
from .package import Package, normalize_name
from .settings import Settings, load_settings
from .storage import Skipped, Storage

__all__ = [
    "BackendNotInstalled",
    "BackendSettings",
    "Cache",
    "CacheUnavailable",
    "ConfigError",
    "InvalidPackage",
    "Package",
    "PackageExists",
    "PkgcacheError",
    "Problem",
    "ReloadResult",
    "SecretUrl",
    "Settings",
    "Skipped",
    "Storage",
    "StorageSettings",
    "__version__",
    "hookimpl",
    "load_cache",
    "load_settings",
    "mask_url",
    "normalize_name",
    "sort_packages",
    "summarize",
]
