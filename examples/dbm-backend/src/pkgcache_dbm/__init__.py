"""An example third-party backend: pkgcache on the standard library's ``dbm``.

One file, no server: handy for a laptop or a CI job. It shows everything a
backend needs: a ``Settings`` model, the six primitives, a ``_replace_all``
that readers never see half done, and registration through the
``pkgcache.backends`` entry point (see ``pyproject.toml``).

Layout in the database: ``file:<filename>`` holds the package as JSON;
``project:<name>`` holds the JSON list of its filenames. ``dbm`` is not safe
between processes, so this backend serializes the threads of one process
and leaves cross-process use alone.
"""

from __future__ import annotations

import dbm.dumb
import json
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from pkgcache import BackendSettings, Cache, Package, Storage, normalize_name, sort_packages

__all__ = ["DbmCache"]


class DbmSettings(BackendSettings):
    """``db.path``: the database file (created when missing)."""

    path: Path = Field(description="The dbm database file, created when missing")


class DbmCache(Cache):
    """``pypi.db = dbm``."""

    Settings = DbmSettings
    atomic_reload = True  # _replace_all holds the lock every reader takes
    settings: DbmSettings

    def __init__(self, settings: DbmSettings, storage: Storage, **kwargs: Any) -> None:  # type: ignore[override]
        super().__init__(settings, storage, **kwargs)
        self._lock = threading.RLock()
        # dbm.dumb: the same pure-Python format on every platform and version, usable from
        # any thread (Python 3.13's default, dbm.sqlite3, is bound to the opening thread)
        self._db: Any = dbm.dumb.open(str(settings.path), "c")  # noqa: SIM115 - open until close()

    # -- storage of one package ------------------------------------------------
    @staticmethod
    def _dump(p: Package) -> bytes:
        return json.dumps({**p.to_dict(), "_key": p.sort_key}).encode()

    @staticmethod
    def _load(raw: bytes) -> Package:
        d = json.loads(raw)
        key = d.pop("_key")
        modified = datetime.fromisoformat(d.pop("last_modified"))
        return Package.restore(d.pop("name"), d.pop("version"), d.pop("filename"), modified, d.pop("summary"), d, key)

    def _files_of(self, name: str) -> list[str]:
        raw = self._db.get(f"project:{name}")
        return json.loads(raw) if raw else []

    def _set_files(self, name: str, files: list[str]) -> None:
        if files:
            self._db[f"project:{name}"] = json.dumps(sorted(files))
        elif f"project:{name}" in self._db:
            del self._db[f"project:{name}"]

    # -- the primitives ------------------------------------------------------
    def fetch(self, filename: str) -> Package | None:
        with self._lock:
            raw = self._db.get(f"file:{filename}")
        return self._load(raw) if raw else None

    def all(self, name: str) -> list[Package]:
        with self._lock:
            name = normalize_name(name)
            return sort_packages(self._load(self._db[f"file:{f}"]) for f in self._files_of(name))

    def distinct(self) -> list[str]:
        with self._lock:
            keys = self._db.keys()  # not every dbm flavour can be iterated directly
            names = [k.decode()[len("project:") :] for k in keys if k.startswith(b"project:")]
        return sorted(names)

    def _save_many(self, packages: Sequence[Package]) -> None:
        with self._lock:
            for p in packages:
                self._remove(p.filename)
                self._db[f"file:{p.filename}"] = self._dump(p)
                self._set_files(p.name, [*self._files_of(p.name), p.filename])

    def _remove(self, filename: str) -> None:
        raw = self._db.get(f"file:{filename}")
        if raw:
            name = json.loads(raw)["name"]
            self._set_files(name, [f for f in self._files_of(name) if f != filename])
            del self._db[f"file:{filename}"]

    def _clear(self, package: Package) -> None:
        with self._lock:
            self._remove(package.filename)

    def _clear_all(self) -> None:
        with self._lock:
            for key in list(self._db.keys()):
                del self._db[key]

    def _replace_all(self, packages: Sequence[Package]) -> None:
        with self._lock:  # one step for the readers of this object, the only ones dbm allows
            self._clear_all()
            self._save_many(packages)

    def _iter_packages(self) -> Iterator[Package]:
        with self._lock:
            raws = [self._db[k] for k in list(self._db.keys()) if k.startswith(b"file:")]
        return (self._load(r) for r in raws)

    def close(self) -> None:
        with self._lock:
            self._db.close()
        super().close()
