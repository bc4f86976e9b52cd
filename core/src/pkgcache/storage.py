"""The Storage interface: where package files live for good.

The cache is only ever rebuilt from a storage, so a storage must be able to
list every file with its metadata. The order of writes matters to graceful
reload (see :mod:`pkgcache.cache`): ``Cache.upload`` writes the storage
before the cache, and ``Cache.delete`` removes from the storage before the
cache, so "in the cache" implies "in the storage" unless a delete is under way.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, ClassVar

from ._models import StorageSettings
from .package import Package

__all__ = ["Skipped", "Storage"]


@dataclass(frozen=True)
class Skipped:
    """A file the storage could not read as a package, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class Storage(abc.ABC):
    """Base class of storages; subclasses set ``Settings`` and implement the methods."""

    Settings: ClassVar[type[StorageSettings]] = StorageSettings

    def __init__(self, settings: StorageSettings) -> None:
        self.settings = settings
        #: files the last :meth:`list` could not read; filled while it runs
        self.skipped: list[Skipped] = []

    @abc.abstractmethod
    def list(self) -> Iterator[Package]:
        """Yield every package; record unreadable files in ``skipped`` and go on."""

    def count_estimate(self) -> int | None:
        """A quick count of files for a progress bar, or None when it is not cheap."""
        return None

    @abc.abstractmethod
    def load(self, package: Package) -> Package | None:
        """The package as the storage has it now (fresh metadata), or None if absent."""

    @abc.abstractmethod
    def open(self, package: Package) -> BinaryIO:
        """Open the file for reading; raise FileNotFoundError when absent."""

    @abc.abstractmethod
    def upload(self, package: Package, data: bytes | BinaryIO) -> None:
        """Store the file and its metadata; readers never see a half-written file."""

    @abc.abstractmethod
    def delete(self, package: Package) -> None:
        """Remove the file and its metadata; no error when absent."""

    @abc.abstractmethod
    def get_url(self, package: Package) -> str:
        """Where the file can be downloaded from (a URL or a local path)."""

    def close(self) -> None:  # noqa: B027 - optional, not abstract
        """Release resources; the default has none."""
