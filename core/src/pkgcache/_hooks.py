"""Loading hook plugins from the ``pkgcache.hooks`` entry point group.

pluggy's own loader does the work (``load_setuptools_entrypoints``), one
name at a time so that a plugin that fails to import, or implements a hook
that does not exist, is logged and left out while the others load. Two
distributions declaring the same name are a conflict: none of them is
loaded, and :func:`pkgcache.load_settings` (so ``pkgcache validate`` and every
command) and ``pkgcache backends`` report it.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import pluggy

from . import hookspecs
from ._entry_points import conflict, declared

log = logging.getLogger(__name__)

HOOKS_GROUP = "pkgcache.hooks"


def hook_conflicts() -> list[str]:
    """One message per hook plugin name that two distributions declare."""
    return [f"hook plugin {clash}" for name in declared(HOOKS_GROUP) if (clash := conflict(HOOKS_GROUP, name))]


def new_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with our specs and, by default, every installed hook plugin.

    Give one to a cache (``hooks=``) to choose which hook plugins run: a test
    registers its own with ``load_entry_points=False``. Implementations that
    match no spec are errors (``check_pending``).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if load_entry_points:
        _load_entry_points(pm)
    pm.check_pending()
    return pm


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    for name in declared(HOOKS_GROUP):
        if conflict(HOOKS_GROUP, name):
            pm.set_blocked(name)  # load_settings refuses the configuration: see hook_conflicts
            continue
        try:
            pm.load_setuptools_entrypoints(HOOKS_GROUP, name)
            pm.check_pending()
        except Exception as err:  # a broken plugin must not break the others
            if pm.has_plugin(name):
                pm.unregister(name=name)
            log.error("hook plugin %r is left out: %s", name, err)


@lru_cache(maxsize=1)
def default_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager with every installed hook plugin (loaded once)."""
    return new_plugin_manager()
