"""Entry points by group and name, read once from the installed distributions, imported never.

The lowest layer of the plugin machinery: the registry (backends and
storages) and the hook loader both read their groups here, so neither needs
the other, and listing what is installed imports no plugin.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

__all__ = ["conflict", "declared", "distribution_of", "installed"]


def distribution_of(ep: EntryPoint) -> str:
    return ep.dist.name if ep.dist else "an unknown distribution"


class _Declared:
    """``declared(group)``: every entry point of ``group`` by name, without importing them.

    The installed distributions are scanned once for every group at a time
    (``importlib.metadata`` reads every distribution's entry points whatever
    the group asked, and validating a config asks five groups), then each
    group is sorted out on first use. ``declared.cache_clear()`` forgets the
    scan, for tests that install a distribution.
    """

    def __init__(self) -> None:
        self._all: Any = None
        self._groups: dict[str, dict[str, list[EntryPoint]]] = {}

    def __call__(self, group: str) -> dict[str, list[EntryPoint]]:
        """A name with more than one entry point (two distributions declaring the
        same name) is a conflict: see :func:`conflict`."""
        found = self._groups.get(group)
        if found is None:
            if self._all is None:
                self._all = entry_points()  # every group: .select() below sorts them out
            found = {}
            for ep in sorted(self._all.select(group=group), key=distribution_of):
                same = found.setdefault(ep.name, [])
                if not any(distribution_of(o) == distribution_of(ep) and o.value == ep.value for o in same):
                    same.append(ep)
            found = self._groups[group] = dict(sorted(found.items()))
        return found

    def cache_clear(self) -> None:
        self._all = None
        self._groups = {}


declared = _Declared()


def installed(group: str) -> dict[str, EntryPoint]:
    """Installed drivers of ``group`` by name (the first of each name), without importing them."""
    return {name: eps[0] for name, eps in declared(group).items()}


def conflict(group: str, name: str) -> str | None:
    """Why ``name`` of ``group`` cannot be used when two distributions declare it; else None."""
    eps = declared(group).get(name, [])
    if len(eps) < 2:
        return None
    each = [f"{distribution_of(ep)} ({ep.value})" for ep in eps]
    which = ", ".join(each[:-1]) + " and " + each[-1]
    return f"{name!r} is declared by {len(eps)} distributions, {which}: uninstall all but one"
