"""Writes on a Redis Cluster, where a project's keys and the ``{/index}`` keys live in two slots.

No script and no transaction spans two slots, so every write is two steps:
the project script (atomic in the project's slot) changes the project and
returns its new state numbered by the project's ``:version`` counter; then
the index script (atomic in the index slot) applies that state only when its
number is above the one the index holds for the project (and, per file,
above the number of the last write of that file by that project).

Why numbers and not "last writer wins": two writers finish their project
steps in one order and may reach the index in the other, and the later
index write would then put back a state the project has already left (a
project with files missing from ``distinct()``, or the summary of a lower
version). Numbered states make the index update idempotent and order-free:
whatever the interleaving, the index ends up holding each project's latest
state, the one ``all()`` reads. Versions of removed files are kept as
tombstones, so a late save cannot resurrect a file cleared after it.

A plain reload switches slot by slot: each project's swap bumps its version,
and the index swap records those numbers as a floor below which late writes
of the old contents are refused, keeping the live row of a project written
after its swap.

What stays open without a cross-slot transaction: the same filename saved
under two different project names at the same instant may end up in both
projects (a move is a clear in one slot and a save in another); and a file
written between a plain reload's project switch and its index switch keeps
its project row but may miss from ``fetch`` and ``search`` until it is
written again (a plain reload may lose concurrent uploads on any backend).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING

from pkgcache import Package

if TYPE_CHECKING:
    from .cache import RedisCache


def _project_keys(cache: RedisCache, name: str) -> list[str]:
    return [cache._files_key(name), cache._best_key(name), cache._version_key(name)]


def _apply(cache: RedisCache, name: str, state: list[object], filename: str, encoded: str) -> None:
    version, best = state
    keys = [cache.index_key, cache.summary_key, cache.versions_key, cache.file_versions_key, cache.floor_key]
    keys.append(cache.search_key)
    cache.scripts.index_apply(keys=keys, args=[name, version, best, filename, encoded])


def _clear_from(cache: RedisCache, name: str, filename: str) -> None:
    state = cache.scripts.project_clear(keys=_project_keys(cache, name), args=[filename])
    _apply(cache, name, state, filename, "")


def save(cache: RedisCache, package: Package, encoded: str) -> None:
    """Save one file; a file that moves to another project is first cleared from the old one."""
    old = cache.client.hget(cache.index_key, package.filename)
    if old is not None and json.loads(old)["n"] != package.name:
        _clear_from(cache, json.loads(old)["n"], package.filename)
    state = cache.scripts.project_save(keys=_project_keys(cache, package.name), args=[package.filename, encoded])
    _apply(cache, package.name, state, package.filename, encoded)


def clear(cache: RedisCache, package: Package) -> None:
    """Clear one file from its project and, should the index name another project, from that one too."""
    _clear_from(cache, package.name, package.filename)
    old = cache.client.hget(cache.index_key, package.filename)
    if old is not None and json.loads(old)["n"] != package.name:
        _clear_from(cache, json.loads(old)["n"], package.filename)


def switch(cache: RedisCache, names: list[str], gone: list[str], tmp: str) -> None:
    """Rename the staged keys over the live ones slot by slot, then the index keys."""
    by_slot: dict[int, list[tuple[str, bool]]] = defaultdict(list)
    for name in names:
        by_slot[cache.client.keyslot(cache._files_key(name))].append((name, True))
    for name in gone:
        by_slot[cache.client.keyslot(cache._files_key(name))].append((name, False))
    floor: dict[str, int] = {}
    for entries in by_slot.values():
        keys: list[str] = []
        for name, _ in entries:
            files, best = cache._files_key(name), cache._best_key(name)
            keys += [files + tmp, files, best + tmp, best, cache._version_key(name)]
        versions = cache.scripts.project_swap(keys=keys, args=["1" if staged else "0" for _, staged in entries])
        floor.update((name, int(v)) for (name, _), v in zip(entries, versions, strict=True))
    expire = int(cache.STAGED_KEYS_TTL * 1000)
    if floor:
        pipe = cache.client.pipeline(transaction=False)
        for key in (cache.versions_key + tmp, cache.floor_key + tmp):
            pipe.hset(key, mapping=floor)
            pipe.pexpire(key, expire)
        pipe.execute()
    pairs = [cache.index_key, cache.summary_key, cache.versions_key, cache.floor_key, cache.search_key]
    keys = [k for live in pairs for k in (live + tmp, live)] + [cache.file_versions_key]
    cache.scripts.index_swap(keys=keys, args=[])
