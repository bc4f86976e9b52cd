"""Hook specifications: what a ``pkgcache.hooks`` plugin can implement.

A hook plugin is any module or object with functions named like the specs
below, decorated with :data:`pkgcache.hookimpl`, and registered through the
``pkgcache.hooks`` entry point group::

    [project.entry-points."pkgcache.hooks"]
    audit = "my_audit_plugin"

Implement only the hooks you need; pluggy passes only the arguments your
function names. Hooks run in the process that does the work, synchronously:
keep them fast, and do not raise from the event hooks unless the operation
itself should fail (the exception reaches the caller after the cache write).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from ._reload import ReloadResult
    from .cache import Cache
    from .package import Package
    from .settings import Settings

PROJECT = "pkgcache"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def pkgcache_validate_settings(settings: Settings, raw: dict[str, Any]) -> list[tuple[str | None, str]] | None:
    """Add validation rules to configuration files.

    Called once the core, backend and storage models have accepted the
    settings. ``raw`` holds every key of the section as read (strings from
    INI files), ``settings`` the validated models. Return a list of
    ``(key, message)`` problems (``key`` may be None for the whole file), or
    None / an empty list when all is well. The problems are reported next to
    the built-in ones, with the file and line of ``key`` when known, and make
    ``pkgcache validate`` exit 1.
    """


@hookspec
def pkgcache_package_saved(cache: Cache, package: Package) -> None:
    """A package was saved (``save``, ``save_many``, ``upload``).

    Not called for each package of a reload: see
    :func:`pkgcache_reload_finished`.
    """


@hookspec
def pkgcache_package_cleared(cache: Cache, package: Package) -> None:
    """A package was removed (``clear`` or ``delete``); also called when it was absent."""


@hookspec
def pkgcache_reload_finished(cache: Cache, result: ReloadResult) -> None:
    """A reload from storage ended; ``result`` has the counts, the time and skipped files."""
