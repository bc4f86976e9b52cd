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

import heapq
import pickle
import tempfile
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, TYPE_CHECKING, TypeVar

from .exceptions import ReloadRefused
from .package import Package
from .storage import Entry, Skipped, Storage

if TYPE_CHECKING:
    from .cache import Cache

__all__ = ["BATCH", "Guard", "ReloadResult"]

Progress = Callable[[int], None]
#: files read, written or spooled at a time; also how often ``progress`` is called
BATCH = 1000
_SORT_CHUNK = 1 << 16
T = TypeVar("T")


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
    #: files indexed without some of their metadata, and why
    warnings: list[Skipped] = field(default_factory=list)

    def __str__(self) -> str:
        notes = [f"{len(self.skipped)} files skipped"] if self.skipped else []
        notes += [f"{len(self.warnings)} indexed without some metadata"] if self.warnings else []
        return (
            f"added {self.added}, removed {self.removed}, updated {self.updated}, "
            f"unchanged {self.unchanged} in {self.seconds:.2f} s" + (f" ({', '.join(notes)})" if notes else "")
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
            "warnings": [{"path": s.path, "reason": s.reason} for s in self.warnings],
        }


@dataclass(frozen=True)
class Guard:
    """What a reload may remove: ``allow_empty`` lets a storage that lists no file
    empty the cache; ``max_delete`` (0 to 1, None for no limit) caps the share of
    the cache's files one reload may remove."""

    allow_empty: bool = False
    max_delete: float | None = None

    def __post_init__(self) -> None:
        if self.max_delete is not None and not 0 <= self.max_delete <= 1:
            raise ValueError(f"max_delete must be a share between 0 and 1, not {self.max_delete!r}")

    def check(self, storage: Storage, listed: int, cached: int, removing: int) -> None:
        """Raise :class:`ReloadRefused` when the reload would do what the guard forbids."""
        if not removing:
            return
        skipped = f" ({len(storage.skipped)} skipped as unreadable)" if storage.skipped else ""
        if listed == 0 and not self.allow_empty:
            raise ReloadRefused(
                f"the storage lists 0 files{skipped} while the cache holds {cached}: refusing to empty the cache "
                f"(a wrong or unmounted storage?); pass allow_empty=True (--allow-empty) if that is what you want"
            )
        if self.max_delete is not None and removing > self.max_delete * cached:
            raise ReloadRefused(
                f"the reload would remove {removing} of the cache's {cached} files (the storage lists {listed}"
                f"{skipped}), more than max_delete={self.max_delete:g}; raise --max-delete or leave it out"
            )


# -- compact sets of hashes --------------------------------------------------------------
def _fingerprint(package: Package) -> int:
    """A hash of every field ``same_as`` compares (the items of ``data`` as a set when
    they are hashable, as the usual flat metadata is; else its canonical JSON)."""
    p = package
    try:
        data: object = frozenset(p.data.items())
        return hash((p.filename, p.name, p.version, p.last_modified, p.summary, data))
    except TypeError:  # a list or dict among the values
        return hash((p.filename, p.name, p.version, p.last_modified, p.summary, p.data_json()))


class _Hashes:
    """64-bit hashes in ``array('q')`` (8 bytes each): append, then :meth:`seal` once,
    then test membership by bisection.

    Sealing sorts the array chunk by chunk, each chunk cut off the front as it
    is sorted, and keeps the sorted chunks apart (a lookup bisects each; there
    are a few): never a second copy of the whole, nor a list of it.
    """

    def __init__(self) -> None:
        self._values = array("q")
        self._chunks: list[array[int]] = []

    def add(self, value: int) -> None:
        self._values.append(value)

    def seal(self) -> _Hashes:
        values = self._values
        while values:
            self._chunks.append(array("q", sorted(values[-_SORT_CHUNK:])))
            del values[-_SORT_CHUNK:]  # from the end: no copy of what is left
        self._values = array("q")
        return self

    def __contains__(self, value: int) -> bool:
        for values in self._chunks:
            i = bisect_left(values, value)
            if i < len(values) and values[i] == value:
                return True
        return False

    def __len__(self) -> int:
        return sum(map(len, self._chunks))

    def _sorted(self) -> Iterator[int]:
        return heapq.merge(*self._chunks) if len(self._chunks) > 1 else iter(self._chunks[0] if self._chunks else ())

    def distinct(self) -> int:
        count, last = 0, None
        for value in self._sorted():
            if value != last:
                count, last = count + 1, value
        return count

    def missing_from(self, other: _Hashes) -> int:
        """How many distinct values of ``self`` are not in ``other`` (both sealed): one merge walk."""
        theirs = other._sorted()
        current = next(theirs, None)
        missing, last = 0, None
        for value in self._sorted():
            if value == last:
                continue
            last = value
            while current is not None and current < value:
                current = next(theirs, None)
            if current != value:
                missing += 1
        return missing


@dataclass
class _Snapshot:
    """What a reload knows of the cache before it writes: hashed filenames, (filename,
    token) pairs and, when it read whole packages, contents."""

    names: _Hashes = field(default_factory=_Hashes)
    pairs: _Hashes = field(default_factory=_Hashes)
    contents: _Hashes | None = None

    @classmethod
    def of_tokens(cls, cache: Cache) -> _Snapshot:
        snap = cls()
        for filename, token in cache._iter_tokens():
            snap.names.add(hash(filename))
            if token is not None:
                snap.pairs.add(hash((filename, token)))
        snap.names.seal()
        snap.pairs.seal()
        return snap

    @classmethod
    def of_packages(cls, cache: Cache) -> _Snapshot:
        snap = cls(contents=_Hashes())
        assert snap.contents is not None
        for package in cache._iter_packages():
            snap.names.add(hash(package.filename))
            snap.contents.add(_fingerprint(package))
            if package.token is not None:
                snap.pairs.add(hash((package.filename, package.token)))
        snap.names.seal()
        snap.pairs.seal()
        snap.contents.seal()
        return snap

    def unchanged(self, package: Package) -> bool:
        assert self.contents is not None
        return _fingerprint(package) in self.contents


def _batches(items: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def _last_wins(batch: Iterable[Package]) -> list[Package]:
    """One package per filename (the last), as a dictionary of the listing kept it."""
    return list({p.filename: p for p in batch}.values())


class _Spool:
    """Writes a graceful reload decided on, held until the guard has passed: one
    batch in memory, the rest pickled to a temporary file."""

    def __init__(self) -> None:
        self._items: list[tuple[str, Package]] = []
        self._file: IO[bytes] | None = None

    def add(self, kind: str, package: Package) -> None:
        self._items.append((kind, package))
        if len(self._items) >= BATCH:
            if self._file is None:
                self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in batches()
            pickle.dump(self._items, self._file, pickle.HIGHEST_PROTOCOL)
            self._items = []

    def batches(self) -> Iterator[list[tuple[str, Package]]]:
        try:
            if self._file is not None:
                self._file.seek(0)
                while True:
                    try:
                        yield pickle.load(self._file)
                    except EOFError:
                        break
            if self._items:
                yield self._items
        finally:
            if self._file is not None:
                self._file.close()
                self._file = None


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
    before = _Snapshot.of_tokens(cache) if tokens else _Snapshot.of_packages(cache)
    listed = _Hashes()
    result = ReloadResult()
    seen = 0

    def counted(batch: list[Package]) -> list[Package]:
        nonlocal seen
        batch = _last_wins(batch)
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
            for batch in _batches(listing):
                add(counted(batch))
            if progress is not None and not seen:
                progress(0)
            result.removed = before.names.missing_from(listed.seal())
            (guard or Guard()).check(storage, listed.distinct(), len(before.names), result.removed)
    else:
        for batch in _batches(listing):
            cache._save_many(counted(batch))
        if progress is not None and not seen:
            progress(0)
    result.skipped, result.warnings = list(storage.skipped), list(storage.warnings)
    result.seconds = time.perf_counter() - start
    return result


# -- graceful -------------------------------------------------------------------------------
def _classify(cache: Cache, snap: _Snapshot, tokens: bool, batch: list[Entry], listed: _Hashes, spool: _Spool) -> int:
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
    fresh = _last_wins(storage.read_many(reread))
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


def _write(cache: Cache, spool: _Spool, result: ReloadResult) -> None:
    """Save the spooled packages; then re-ask the storage about them (a batch at a
    time), since a concurrent delete or upload may have passed between our read and
    our write."""
    storage = cache.storage
    for batch in spool.batches():
        cache._save_many(_last_wins(p for _, p in batch))
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
            cache._save_many(_last_wins(again))


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


def _remove_gone(cache: Cache, listed: _Hashes, result: ReloadResult) -> None:
    """Remove what the cache holds and the listing lacked, if the storage still lacks it."""
    storage = cache.storage
    gone = [f for f, _ in cache._iter_tokens() if hash(f) not in listed]  # collected: no cursor open while we write
    removed: list[Package] = []
    for filenames in _batches(gone):
        held = list(cache._fetch_many(filenames).values())
        for package, now in zip(held, _recheck(storage, held), strict=True):
            if now is None:
                cache._clear(package)
                removed.append(package)
    reappeared: list[Package] = []
    for batch in _batches(removed):
        reappeared += [fresh for fresh in _recheck(storage, batch) if fresh is not None]
    for batch in _batches(reappeared):
        cache._save_many(batch)
    result.removed = len(removed) - len(reappeared)


def graceful_reload(cache: Cache, clear: bool, progress: Progress | None, guard: Guard | None = None) -> ReloadResult:
    """Reconcile in place, safe against concurrent uploads and deletes."""
    start = time.perf_counter()
    storage = cache.storage
    entries = storage.scan()  # raises StorageUnavailable before anything is read or written
    tokens = cache.stores_tokens
    snap = _Snapshot.of_tokens(cache) if tokens else _Snapshot.of_packages(cache)
    result = ReloadResult(graceful=True)
    listed, spool = _Hashes(), _Spool()
    seen = 0
    for batch in _batches(entries):
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
