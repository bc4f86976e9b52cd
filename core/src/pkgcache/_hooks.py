"""Loading hook plugins from the ``pkgcache.hooks`` entry point group."""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib.metadata import entry_points

import pluggy

from . import hookspecs

log = logging.getLogger(__name__)

HOOKS_GROUP = "pkgcache.hooks"


def new_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with our specs and, by default, every installed hook plugin.

    Each entry point is loaded on its own: one that fails to import is
    logged and left out, so a broken plugin never stops the others or the
    cache. Implementations that match no spec are errors (``check_pending``).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if load_entry_points:
        for ep in entry_points(group=HOOKS_GROUP):
            try:
                pm.register(ep.load(), name=ep.name)
                pm.check_pending()
            except Exception as err:  # a broken plugin must not break the others
                if pm.get_plugin(ep.name) is not None:
                    pm.unregister(name=ep.name)
                log.error("hook plugin %r (%s) is left out: %s", ep.name, ep.value, err)
    pm.check_pending()
    return pm


@lru_cache(maxsize=1)
def default_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager with every installed hook plugin (loaded once)."""
    return new_plugin_manager()
