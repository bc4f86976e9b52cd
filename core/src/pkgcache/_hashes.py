"""What a reload holds in memory instead of packages: sorted arrays of 64-bit hashes, the
snapshot of the cache they make, batches, and the spool of decided writes.

Memory is one batch plus 8 to 24 bytes per file, whatever the size of the
storage. The hashes are Python's own ``hash`` (SipHash, keyed afresh in every
process): the arrays never leave the process, and a collision among a
million files has odds of about one in 10^7.
"""

from __future__ import annotations

import heapq
import pickle
import tempfile
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, TYPE_CHECKING, TypeVar

from .package import Package

if TYPE_CHECKING:
    from .cache import Cache

__all__ = ["BATCH", "Hashes", "Snapshot", "Spool", "batches", "fingerprint", "last_wins"]

#: files read, written or spooled at a time; also how often ``progress`` is called
BATCH = 1000
SORT_CHUNK = 1 << 16
T = TypeVar("T")


def fingerprint(package: Package) -> int:
    """A hash of every field ``same_as`` compares (the items of ``data`` as a set when
    they are hashable, as the usual flat metadata is; else its canonical JSON)."""
    p = package
    try:
        data: object = frozenset(p.data.items())
        return hash((p.filename, p.name, p.version, p.last_modified, p.summary, data))
    except TypeError:  # a list or dict among the values
        return hash((p.filename, p.name, p.version, p.last_modified, p.summary, p.data_json()))


class Hashes:
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

    def seal(self) -> Hashes:
        values = self._values
        while values:
            self._chunks.append(array("q", sorted(values[-SORT_CHUNK:])))
            del values[-SORT_CHUNK:]  # from the end: no copy of what is left
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

    def missing_from(self, other: Hashes) -> int:
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
class Snapshot:
    """What a reload knows of the cache before it writes: hashed filenames, (filename,
    token) pairs and, when it read whole packages, contents."""

    names: Hashes = field(default_factory=Hashes)
    pairs: Hashes = field(default_factory=Hashes)
    contents: Hashes | None = None

    @classmethod
    def of_tokens(cls, cache: Cache) -> Snapshot:
        snap = cls()
        for filename, token in cache._iter_tokens():
            snap.names.add(hash(filename))
            if token is not None:
                snap.pairs.add(hash((filename, token)))
        snap.names.seal()
        snap.pairs.seal()
        return snap

    @classmethod
    def of_packages(cls, cache: Cache) -> Snapshot:
        snap = cls(contents=Hashes())
        assert snap.contents is not None
        for package in cache._iter_packages():
            snap.names.add(hash(package.filename))
            snap.contents.add(fingerprint(package))
            if package.token is not None:
                snap.pairs.add(hash((package.filename, package.token)))
        snap.names.seal()
        snap.pairs.seal()
        snap.contents.seal()
        return snap

    def unchanged(self, package: Package) -> bool:
        assert self.contents is not None
        return fingerprint(package) in self.contents


def batches(items: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def last_wins(batch: Iterable[Package]) -> list[Package]:
    """One package per filename (the last), as a dictionary of the listing kept it."""
    return list({p.filename: p for p in batch}.values())


class Spool:
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
