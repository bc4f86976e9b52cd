"""Building a ready cache from configuration."""

from __future__ import annotations

from collections.abc import Mapping

from .cache import Cache
from .settings import Settings, Source, load_settings


def load_cache(source: Source | Settings = None, *, environ: Mapping[str, str] | None = None) -> Cache:
    """The chosen backend, built on the chosen storage, from a path, a mapping or Settings.

    The caller owns the cache: close it, or use it as a context manager.
    Raises :class:`~pkgcache.ConfigError` for invalid configuration and
    :class:`~pkgcache.CacheUnavailable` when the backend cannot reach its server.
    """
    settings = source if isinstance(source, Settings) else load_settings(source, environ=environ)
    storage = settings.storage_class(settings.storage)
    cache: Cache = settings.backend_class(settings.db, storage)
    return cache
