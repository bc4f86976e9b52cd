"""Reloading a cache from its storage: plain (replace) and graceful (reconcile).

This logic lives once, here; backends supply only primitives
(``_replace_all``, ``_save_many``, ``_clear``, ``_iter_packages``).

Graceful reload must lose no file uploaded and resurrect no file deleted
while it runs, although other processes keep writing. It relies on the order
of writes that :class:`~pkgcache.Cache` guarantees (``upload`` writes the
storage before the cache; ``delete`` removes from the storage before the
cache) and re-asks the storage about every file it is going to change:

1. list the storage (L), then read the cache (S);
2. files in L but not S are added only if the storage still has them now
   (else they were deleted after the listing);
3. files in S but not L are removed only if the storage lacks them now
   (else they were uploaded after the listing);
4. after writing, the storage is asked once more about the files just added
   or removed, and any whose fate changed meanwhile is put right.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .package import Package
from .storage import Skipped, Storage

if TYPE_CHECKING:
    from .cache import Cache

__all__ = ["ReloadResult"]

Progress = Callable[[int], None]
_PROGRESS_EVERY = 1000


@dataclass
class ReloadResult:
    """What a reload did: counts by filename, the time it took, files skipped."""

    added: int = 0
    removed: int = 0
    updated: int = 0
    unchanged: int = 0
    seconds: float = 0.0
    graceful: bool = False
    skipped: list[Skipped] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"added {self.added}, removed {self.removed}, updated {self.updated}, "
            f"unchanged {self.unchanged} in {self.seconds:.2f} s"
            + (f" ({len(self.skipped)} files skipped)" if self.skipped else "")
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "removed": self.removed,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "seconds": round(self.seconds, 4),
            "graceful": self.graceful,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }


def _listing(storage: Storage, progress: Progress | None) -> dict[str, Package]:
    found: dict[str, Package] = {}
    for package in storage.list():
        found[package.filename] = package
        if progress is not None and len(found) % _PROGRESS_EVERY == 0:
            progress(len(found))
    if progress is not None:
        progress(len(found))
    return found


def _count(result: ReloadResult, before: dict[str, Package], after: dict[str, Package]) -> None:
    for filename, package in after.items():
        old = before.get(filename)
        if old is None:
            result.added += 1
        elif old.same_as(package):
            result.unchanged += 1
        else:
            result.updated += 1
    result.removed = sum(1 for f in before if f not in after)


def plain_reload(cache: Cache, clear: bool, progress: Progress | None) -> ReloadResult:
    """Replace the contents with the storage's (atomically where the backend can)."""
    start = time.perf_counter()
    before = {p.filename: p for p in cache._iter_packages()}
    listed = _listing(cache.storage, progress)
    result = ReloadResult(skipped=list(cache.storage.skipped))
    if clear:
        cache._replace_all(list(listed.values()))
        _count(result, before, listed)
    else:
        cache._save_many(list(listed.values()))
        _count(result, {f: p for f, p in before.items() if f in listed}, listed)
    result.seconds = time.perf_counter() - start
    return result


def _still_there(storage: Storage, packages: Iterable[Package]) -> Iterator[Package]:
    for package in packages:
        fresh = storage.load(package)
        if fresh is not None:
            yield fresh


def graceful_reload(cache: Cache, clear: bool, progress: Progress | None) -> ReloadResult:
    """Reconcile in place, safe against concurrent uploads and deletes."""
    start = time.perf_counter()
    storage = cache.storage
    listed = _listing(storage, progress)
    cached = {p.filename: p for p in cache._iter_packages()}
    result = ReloadResult(graceful=True, skipped=list(storage.skipped))

    new = [p for f, p in listed.items() if f not in cached]
    changed = [p for f, p in listed.items() if f in cached and not cached[f].same_as(p)]
    gone = [p for f, p in cached.items() if f not in listed] if clear else []
    result.unchanged = len(listed) - len(new) - len(changed)

    # 2. add only what the storage still has (fresh metadata), 3. remove only what it lacks
    to_save = list(_still_there(storage, new + changed))
    to_remove = [p for p in gone if storage.load(p) is None]
    cache._save_many(to_save)
    for package in to_remove:
        cache._clear(package)

    # 4. put right what changed while we wrote
    added_names = {p.filename for p in to_save}
    deleted_meanwhile = [p for p in to_save if storage.load(p) is None]
    for package in deleted_meanwhile:
        cache._clear(package)
    reappeared = list(_still_there(storage, to_remove))
    cache._save_many(reappeared)

    changed_names = {p.filename for p in changed}
    result.added = sum(1 for f in added_names if f not in changed_names) - sum(
        1 for p in deleted_meanwhile if p.filename not in changed_names
    )
    result.updated = sum(1 for f in added_names if f in changed_names)
    result.removed = len(to_remove) - len(reappeared)
    result.seconds = time.perf_counter() - start
    return result
