"""The Storage interface: where package files live for good.

The cache is only ever rebuilt from a storage, so a storage must be able to
list every file with its metadata. The order of writes matters to graceful
reload (see :mod:`pkgcache.cache`): ``Cache.upload`` writes the storage
before the cache, and ``Cache.delete`` removes from the storage before the
cache, so "in the cache" implies "in the storage" unless a delete is under way.
"""

from __future__ import annotations

import abc
import builtins
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, ClassVar, NamedTuple

from ._plugin_settings import StorageSettings
from .package import Package

__all__ = ["Entry", "Skipped", "Storage", "shown_path"]


def shown_path(path: str) -> str:
    """``path`` printable on any terminal and in JSON: bytes that are not UTF-8
    (surrogate-escaped by ``os.fsdecode``) are written as ``\\xff``."""
    if path.isascii():
        return path
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class Skipped:
    """A file the storage could not read as a package (or, in ``warnings``, could
    read only in part), and why, in one line."""

    path: str
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", shown_path(self.path))
        object.__setattr__(self, "reason", " ".join(shown_path(self.reason).split()))

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class Entry(NamedTuple):
    """One file as a cheap listing (:meth:`Storage.scan`) sees it, before any content is read.

    ``token`` changes whenever the file or its metadata changes (None: unknown,
    always re-read); ``path`` is whatever the storage needs to read it again (a
    file path, an object key); ``package`` is set only by the fallback scan of a
    storage that implements :meth:`Storage.list` alone.
    """

    filename: str
    token: str | None
    path: str
    package: Package | None = None


class Storage(abc.ABC):
    """Base class of storages; subclasses set ``Settings`` and implement the methods.

    Listing comes in two steps so that a graceful reload reads only what
    changed: :meth:`scan` lists entries with change tokens cheaply, :meth:`read`
    reads one entry's metadata. A storage that implements :meth:`list` alone
    still works: its scan reads everything and gives no tokens.
    """

    Settings: ClassVar[type[StorageSettings]] = StorageSettings

    def __init__(self, settings: StorageSettings) -> None:
        self.settings = settings
        #: files the last :meth:`list` could not read; filled while it runs
        self.skipped: list[Skipped] = []
        #: files the last :meth:`list` yielded without some of their metadata
        self.warnings: list[Skipped] = []

    def list(self) -> Iterator[Package]:
        """Yield every package; record unreadable files in ``skipped`` and go on.

        Raise :class:`~pkgcache.StorageUnavailable` (before yielding anything)
        when the storage itself cannot be read: a reload then refuses rather
        than take "nothing listed" for "nothing there". The default reads
        every entry of :meth:`scan`.
        """
        if type(self).scan is Storage.scan:
            raise NotImplementedError(f"{type(self).__name__} must implement scan() and read(), or list()")
        return self.read_many(self.scan())

    def scan(self) -> Iterator[Entry]:
        """Yield every file with its change token, reading no content; reset
        ``skipped`` and ``warnings``. Raise :class:`~pkgcache.StorageUnavailable`
        when called (not when iterated) if the storage cannot be read.

        The default, for a storage that implements only :meth:`list`, lists
        and reads everything and gives no tokens.
        """
        if type(self).list is Storage.list:
            raise NotImplementedError(f"{type(self).__name__} must implement scan() and read(), or list()")
        return (Entry(p.filename, p.token, p.filename, p) for p in self.list())

    def read(self, entry: Entry) -> Package | None:
        """The package of one scanned entry with its token set, or None when it
        cannot be read (recorded in ``skipped``) or is gone (not recorded)."""
        if entry.package is not None:
            return entry.package
        raise NotImplementedError(f"{type(self).__name__} must implement read() beside scan()")

    def read_many(self, entries: Iterable[Entry]) -> Iterator[Package]:
        """Read entries in order; a storage with slow reads (an object store)
        overrides it to read several at once."""
        for entry in entries:
            package = self.read(entry)
            if package is not None:
                yield package

    def count_estimate(self) -> int | None:
        """A quick count of files for a progress bar, or None when it is not cheap."""
        return None

    @abc.abstractmethod
    def load(self, package: Package) -> Package | None:
        """The package as the storage has it now (fresh metadata), or None if absent."""

    def recheck(self, packages: Sequence[Package]) -> builtins.list[Package | None]:
        """What the storage holds now of each of ``packages``, in order: None when the
        file is absent, ``package`` itself when the file's change token still equals
        ``package.token`` (not None), else the package as :meth:`load` reads it.

        A graceful reload calls it on the files it has just written or is about to
        remove, to catch an upload or delete by another process that passed between
        its read and its write; so it must look at the storage as it is now (no
        answer remembered from an earlier listing), and raise
        :class:`~pkgcache.StorageUnavailable` rather than call a file absent when
        the storage cannot be read. Returning ``package`` for an unchanged token
        is what lets it skip the reading: a token names one content of a file,
        so the file is still what the reload read.

        The default calls :meth:`load` once per package. A storage whose reads
        are requests overrides it to answer many files at once: an object store
        lists the tokens of a thousand objects in one request and reads only the
        files whose token moved; a folder can compare ``stat`` results.
        """
        return [self.load(package) for package in packages]

    def same_object(self, a: Package, b: Package) -> bool:
        """True when ``a`` and ``b`` are kept as one stored object, so that uploading
        ``b`` replaced ``a``. ``Cache.upload`` asks it when a filename is uploaded again
        under another project or version: the filename is the identity, so the old
        object is deleted when it is another one. The default follows pypicloud's
        folder layout (name, version, filename); a storage keyed otherwise overrides it."""
        return (a.name, a.version, a.filename) == (b.name, b.version, b.filename)

    @abc.abstractmethod
    def open(self, package: Package) -> BinaryIO:
        """Open the file for reading; raise FileNotFoundError when absent."""

    @abc.abstractmethod
    def upload(self, package: Package, data: bytes | BinaryIO) -> Package:
        """Store the file and its metadata; readers never see a half-written file. Return
        the package as stored (its change token set where the storage can tell it at once),
        a new object: ``package`` itself is left as it was."""

    @abc.abstractmethod
    def delete(self, package: Package) -> None:
        """Remove the file and its metadata; no error when absent."""

    @abc.abstractmethod
    def get_url(self, package: Package) -> str:
        """Where the file can be downloaded from (a URL or a local path)."""

    def check_health(self) -> tuple[bool, str]:
        """``(ok, message)``: whether the storage can be read now (a folder, a bucket);
        never raises. :meth:`Cache.check_health` and ``pkgcache health`` include it.
        The default has nothing to check."""
        return True, f"{type(self).__name__} not checked"

    def close(self) -> None:  # noqa: B027 - optional, not abstract
        """Release resources; the default has none."""
