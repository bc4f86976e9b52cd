"""The ``memory`` backend: the reference every other backend is compared with.

Plain dictionaries behind one lock, written for obviousness rather than
speed: the conformance kit's stateful test replays random operations on
this backend and on the one under test and demands identical answers. It
keeps nothing between processes, so its reload lock only serializes the
threads of one process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from ._plugin_settings import BackendSettings
from .cache import Cache, sort_packages
from .package import Package, normalize_name
from .storage import Storage

__all__ = ["MemoryCache"]


class MemoryCache(Cache):
    """Thread-safe in-process cache; ``pypi.db = memory``."""

    stores_tokens = True
    atomic_reload = True

    class Settings(BackendSettings):
        pass

    def __init__(self, settings: BackendSettings, storage: Storage, **kwargs: object) -> None:
        super().__init__(settings, storage, **kwargs)  # type: ignore[arg-type]
        self._lock = threading.RLock()
        self._files: dict[str, Package] = {}
        self._projects: dict[str, dict[str, Package]] = {}

    def fetch(self, filename: str) -> Package | None:
        with self._lock:
            return self._files.get(filename)

    def all(self, name: str) -> list[Package]:
        with self._lock:
            files = list(self._projects.get(normalize_name(name), {}).values())
        return sort_packages(files)

    def distinct(self) -> list[str]:
        with self._lock:
            return sorted(self._projects)

    def _iter_packages(self) -> Iterator[Package]:
        with self._lock:
            return iter(list(self._files.values()))

    def _is_empty(self) -> bool:
        return not self._files

    def _iter_tokens(self) -> Iterator[tuple[str, str | None]]:
        """Tokens live on the stored packages: a graceful reload is incremental here too."""
        with self._lock:
            pairs = [(f, p.token) for f, p in self._files.items()]
        return iter(pairs)

    def _save_many(self, packages: Sequence[Package]) -> None:
        with self._lock:
            for package in packages:
                self._remove(package.filename)
                self._files[package.filename] = package
                self._projects.setdefault(package.name, {})[package.filename] = package

    def _remove(self, filename: str) -> None:
        old = self._files.pop(filename, None)
        if old is not None:
            project = self._projects[old.name]
            del project[filename]
            if not project:
                del self._projects[old.name]

    def _clear(self, package: Package) -> None:
        with self._lock:
            self._remove(package.filename)

    def _clear_all(self) -> None:
        with self._lock:
            self._files.clear()
            self._projects.clear()

    def _replace_all(self, packages: Sequence[Package]) -> None:
        with self._lock:  # atomic for readers of this process
            self._clear_all()
            self._save_many(packages)
