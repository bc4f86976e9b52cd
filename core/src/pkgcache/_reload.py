"""Reloading a cache from its storage: plain (replace) and graceful (reconcile).

This logic lives once, here; backends supply only primitives
(``_replacing``, ``_save_many``, ``_clear``, ``_iter_packages``,
``_iter_tokens``).

Both stream: the listing goes to the backend in batches of
:data:`BATCH`, and what is known of the cache's files while it runs is a few
sorted arrays of 64-bit hashes (of filenames, of (filename, token) pairs,
of contents), never a dictionary of packages: memory is one batch plus
8 to 24 bytes per file. The hashes are Python's own ``hash`` (SipHash, keyed
afresh in every process): the arrays never leave the process, and a
collision among a million files has odds of about one in 10^7.

A graceful reload reads from the storage only the files whose change token
(:attr:`Package.token`) differs from the stored one, when the backend stores
tokens (it declares ``Cache.stores_tokens``); otherwise it reads every file
and compares contents, writing only what changed.

Graceful reload must lose no file uploaded and resurrect no file deleted
while it runs, although other processes keep writing. It relies on the order
of writes that :class:`~pkgcache.Cache` guarantees (``upload`` writes the
storage before the cache; ``delete`` removes from the storage before the
cache) and re-asks the storage about every file it is going to change:

1. read the cache's tokens (S), then scan the storage (L), reading each
   new or changed file there and then: what is read is what the storage has
   now, after S was taken (a file deleted meanwhile reads as absent);
2. files in S but not L are removed only if the storage lacks them now
   (else they were uploaded after the listing);
3. after writing, the storage is asked once more about the files just written
   or removed, and any whose fate changed meanwhile is put right.

Steps 2 and 3 ask about a batch of files at once (:meth:`Storage.recheck`):
a storage whose reads are requests answers many files from a few (an object
store's listing pages carry each object's token), reading again only the
files whose token moved since the reload read them.

Both kinds refuse, before writing anything, to do what is almost always a
wrong storage rather than a wish (:class:`~pkgcache.ReloadRefused`): empty
a cache because the storage lists no file at all (unless ``allow_empty``),
or remove more than ``max_delete`` of it (a share, off by default); a plain
reload raises inside ``Cache._replacing``, so its staging is dropped. A
storage that cannot be read raises :class:`~pkgcache.StorageUnavailable`
from its listing, also before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ._hashes import BATCH, Hashes, Snapshot, Spool, batches, last_wins
from ._reload_result import Guard, ReloadResult
from .package import Package
from .storage import Entry, Storage

if TYPE_CHECKING:
    from .cache import Cache

__all__ = ["BATCH", "Guard", "ReloadResult"]

Progress = Callable[[int], None]


# -- plain --------------------------------------------------------------------------------
def plain_reload(cache: Cache, clear: bool, progress: Progress | None, guard: Guard | None = None) -> ReloadResult:
    """Replace the contents with the storage's (atomically where the backend can).

    Counts come from the compact snapshot: on a backend that stores tokens, a
    file whose stored token is the one just read is unchanged, and only the
    others are fetched and compared (a batch at a time); elsewhere every
    package's content hash is compared.
    """
    start = time.perf_counter()
    storage = cache.storage
    listing = storage.list()  # raises StorageUnavailable before anything is read or written
    tokens = cache.stores_tokens
    before = Snapshot.of_tokens(cache) if tokens else Snapshot.of_packages(cache)
    listed = Hashes()
    result = ReloadResult()
    seen = 0

    def counted(batch: list[Package]) -> list[Package]:
        nonlocal seen
        batch = last_wins(batch)
        compare: list[Package] = []
        for package in batch:
            name = hash(package.filename)
            listed.add(name)
            if name not in before.names:
                result.added += 1
            elif tokens:
                if package.token is not None and hash((package.filename, package.token)) in before.pairs:
                    result.unchanged += 1
                else:
                    compare.append(package)
            elif before.unchanged(package):
                result.unchanged += 1
            else:
                result.updated += 1
        if compare:
            stored = cache._fetch_many([p.filename for p in compare])
            for package in compare:
                old = stored.get(package.filename)
                if old is None:
                    result.added += 1  # cleared by someone else meanwhile
                elif old.same_as(package):
                    result.unchanged += 1
                else:
                    result.updated += 1
        seen += len(batch)
        if progress is not None:
            progress(seen)
        return batch

    if clear:
        with cache._replacing() as add:
            for batch in batches(listing):
                add(counted(batch))
            if progress is not None and not seen:
                progress(0)
            result.removed = before.names.missing_from(listed.seal())
            (guard or Guard()).check(storage, listed.distinct(), len(before.names), result.removed)
    else:
        for batch in batches(listing):
            cache._save_many(counted(batch))
        if progress is not None and not seen:
            progress(0)
    result.skipped, result.warnings = list(storage.skipped), list(storage.warnings)
    result.seconds = time.perf_counter() - start
    return result


# -- graceful -------------------------------------------------------------------------------
def _classify(cache: Cache, snap: Snapshot, tokens: bool, batch: list[Entry], listed: Hashes, spool: Spool) -> int:
    """Read the entries of one batch whose token changed; spool what must be written.
    Returns how many were found unchanged."""
    storage = cache.storage
    unchanged = 0
    reread: list[Entry] = []
    for entry in batch:
        if entry.token is not None and hash((entry.filename, entry.token)) in snap.pairs:
            listed.add(hash(entry.filename))
            unchanged += 1
        else:
            reread.append(entry)
    fresh = last_wins(storage.read_many(reread))
    known = [p for p in fresh if hash(p.filename) in snap.names]
    stored = cache._fetch_many([p.filename for p in known]) if tokens and known else {}
    for package in fresh:
        name = hash(package.filename)
        listed.add(name)
        if name not in snap.names:
            spool.add("added", package)
        elif not tokens:
            if snap.unchanged(package):
                unchanged += 1
            else:
                spool.add("updated", package)
        else:  # only files whose token changed get here: a few, fetched together
            old = stored.get(package.filename)
            if old is None:
                spool.add("added", package)
            elif not old.same_as(package):
                spool.add("updated", package)
            else:
                unchanged += 1
                if old.token != package.token:
                    spool.add("token", package)  # same contents: store the token, count it unchanged
    return unchanged


def _recheck(storage: Storage, packages: Sequence[Package]) -> list[Package | None]:
    """``storage.recheck(packages)``, refused when it does not answer each package once."""
    answers = storage.recheck(packages)
    if len(answers) != len(packages):
        raise TypeError(
            f"{type(storage).__name__}.recheck() gave {len(answers)} answers for {len(packages)} packages: "
            "it must return one (a package or None) per package, in order"
        )
    return answers


def _write(cache: Cache, spool: Spool, result: ReloadResult) -> None:
    """Save the spooled packages; then re-ask the storage about them (a batch at a
    time), since a concurrent delete or upload may have passed between our read and
    our write."""
    storage = cache.storage
    for batch in spool.batches():
        cache._save_many(last_wins(p for _, p in batch))
        again: list[Package] = []
        absent: list[Package] = []
        for (kind, package), fresh in zip(batch, _recheck(storage, [p for _, p in batch]), strict=True):
            result.updated += kind == "updated"
            if fresh is None:
                absent.append(package)  # deleted meanwhile, or uploaded again elsewhere
                continue
            result.added += kind == "added"
            if fresh is not package and (fresh.token != package.token or not fresh.same_as(package)):
                again.append(fresh)  # rewritten meanwhile: its upload may have saved before us
        cleared = _clear_absent(cache, absent)
        # a filename uploaded again between the re-check and the clear (its writer saved
        # before we cleared) is in the storage: asked by filename, it comes back
        again += [fresh for fresh in _recheck(storage, cleared) if fresh is not None] if cleared else []
        if again:
            cache._save_many(last_wins(again))


def _clear_absent(cache: Cache, absent: list[Package]) -> list[Package]:
    """Clear the rows of ``absent`` (written by us, their files absent now) unless the row
    the cache holds now is another writer's: the filename is the identity, so a file
    deleted and uploaded again under another project or version meanwhile has a row
    that is not ours, and the storage is asked about that row, where it is kept, not
    about the place we read. Returns the packages cleared."""
    if not absent:
        return []
    storage = cache.storage
    held = cache._fetch_many([p.filename for p in absent])
    theirs = [row for p in absent if (row := held.get(p.filename)) is not None and not storage.same_object(row, p)]
    answers = _recheck(storage, theirs) if theirs else []
    kept = {row.filename for row, now in zip(theirs, answers, strict=True) if now is not None}
    cleared = [p for p in absent if p.filename not in kept]
    for package in cleared:
        cache._clear(package)
    return cleared


def _remove_gone(cache: Cache, listed: Hashes, result: ReloadResult) -> None:
    """Remove what the cache holds and the listing lacked, if the storage still lacks it."""
    storage = cache.storage
    gone = [f for f, _ in cache._iter_tokens() if hash(f) not in listed]  # collected: no cursor open while we write
    removed: list[Package] = []
    for filenames in batches(gone):
        held = list(cache._fetch_many(filenames).values())
        for package, now in zip(held, _recheck(storage, held), strict=True):
            if now is None:
                cache._clear(package)
                removed.append(package)
    reappeared: list[Package] = []
    for batch in batches(removed):
        reappeared += [fresh for fresh in _recheck(storage, batch) if fresh is not None]
    for batch in batches(reappeared):
        cache._save_many(batch)
    result.removed = len(removed) - len(reappeared)


def graceful_reload(cache: Cache, clear: bool, progress: Progress | None, guard: Guard | None = None) -> ReloadResult:
    """Reconcile in place, safe against concurrent uploads and deletes."""
    start = time.perf_counter()
    storage = cache.storage
    entries = storage.scan()  # raises StorageUnavailable before anything is read or written
    tokens = cache.stores_tokens
    snap = Snapshot.of_tokens(cache) if tokens else Snapshot.of_packages(cache)
    result = ReloadResult(graceful=True)
    listed, spool = Hashes(), Spool()
    seen = 0
    for batch in batches(entries):
        result.unchanged += _classify(cache, snap, tokens, batch, listed, spool)
        seen += len(batch)
        if progress is not None:
            progress(seen)
    if progress is not None and not seen:
        progress(0)
    result.skipped, result.warnings = list(storage.skipped), list(storage.warnings)
    listed.seal()
    gone = snap.names.missing_from(listed) if clear else 0
    (guard or Guard()).check(storage, listed.distinct(), len(snap.names), gone)
    del snap
    _write(cache, spool, result)
    if clear and gone:
        _remove_gone(cache, listed, result)
    result.seconds = time.perf_counter() - start
    return result
