"""The Cache interface every backend implements.

Method names follow pypicloud's ``ICache`` so that code written for it ports
directly. The public methods live here, once: they validate arguments, fire
hooks and orchestrate reloads. A backend implements a small set of
primitives and overrides the optional ones only where it can do better:

==========================  ============================================
must implement              ``fetch``, ``all``, ``distinct``,
                            ``_save_many``, ``_clear``, ``_clear_all``
should override for speed   ``summary``, ``search``, ``_iter_packages``,
                            ``_replace_all`` (atomic), ``_is_empty``
should provide              ``_reload_lock`` (cross-process),
                            ``_check_health``, ``close``
==========================  ============================================

``all`` must return the highest version first (ties by filename): the
helper :func:`sort_packages` does it in Python; a database can ``ORDER BY``
:attr:`Package.sort_key` instead.
"""

from __future__ import annotations

import abc
import hashlib
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import IO, Any, BinaryIO, ClassVar

import pluggy

from ._metadata import parse_filename
from ._models import BackendSettings
from ._reload import Progress, ReloadResult, graceful_reload, plain_reload
from .exceptions import PackageExists
from .package import Package
from .storage import Storage

__all__ = [
    "Cache",
    "best_and_newest",
    "check_search_args",
    "comes_first",
    "matches",
    "search_packages",
    "sort_packages",
    "summarize",
]

RELOAD_LOCK_TIMEOUT = 600.0
QUERY_TYPES = ("and", "or")


def sort_packages(packages: Iterable[Package]) -> list[Package]:
    """Highest version first, ties by filename: the order ``all()`` returns."""
    by_filename = sorted(packages, key=lambda p: p.filename)
    return sorted(by_filename, key=lambda p: p.sort_key, reverse=True)


def best_and_newest(packages: Iterable[Package]) -> tuple[Package, datetime]:
    """What a project's summary row holds, in one pass over its files (any order):
    the file that stands first in ``all()`` order, and the newest time."""
    it = iter(packages)
    best = next(it)
    newest = best.last_modified
    for p in it:
        if comes_first(p, best):
            best = p
        if p.last_modified > newest:
            newest = p.last_modified
    return best, newest


def summarize(name: str, packages: Iterable[Package]) -> dict[str, Any]:
    """The summary row of a project from its files (a non-empty iterable)."""
    best, newest = best_and_newest(packages)
    return {"name": name, "summary": best.summary, "last_modified": newest}


def check_search_args(criteria: Mapping[str, Any], query_type: str) -> dict[str, list[str]]:
    """Validate ``search`` arguments; return the terms casefolded by field."""
    if query_type not in QUERY_TYPES:
        raise ValueError(f"search query_type must be 'and' or 'or', not {query_type!r}")
    unknown = set(criteria) - {"name", "summary"}
    if unknown:
        raise ValueError(f"search criteria keys must be 'name' and/or 'summary', not {sorted(unknown)!r}")
    terms: dict[str, list[str]] = {}
    for field in ("name", "summary"):
        value = criteria.get(field) or []
        if isinstance(value, str):
            value = [value]
        terms[field] = [str(t).casefold() for t in value]
    return terms


def matches(package: Package, terms: dict[str, list[str]], query_type: str) -> bool:
    """Case-insensitive (casefolded) substring match; every character literal."""
    name = package.name.casefold()
    summary = (package.summary or "").casefold()
    hits = [t in name for t in terms["name"]] + [t in summary for t in terms["summary"]]
    return all(hits) if query_type == "and" else any(hits)


def comes_first(a: Package, b: Package) -> bool:
    """True when ``a`` stands before ``b`` in ``all()`` order (no version parsing)."""
    return a.sort_key > b.sort_key or (a.sort_key == b.sort_key and a.filename < b.filename)


def search_packages(packages: Iterable[Package], terms: dict[str, list[str]], query_type: str) -> list[Package]:
    """Per project, its highest matching package, sorted by name, in one pass."""
    best: dict[str, Package] = {}
    for package in packages:
        if matches(package, terms, query_type):
            found = best.get(package.name)
            if found is None or comes_first(package, found):
                best[package.name] = package
    return [best[name] for name in sorted(best)]


def _hashed(data: bytes | BinaryIO) -> tuple[bytes | IO[bytes], str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    if isinstance(data, bytes):
        sha.update(data)
        md5.update(data)
        return data, sha.hexdigest(), md5.hexdigest()
    spool = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115 - the caller closes it
    while chunk := data.read(1 << 20):
        sha.update(chunk)
        md5.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    return spool, sha.hexdigest(), md5.hexdigest()


class Cache(abc.ABC):
    """Base class of every backend; see the module docstring for what to implement."""

    #: the backend's settings model (the ``db.*`` keys without ``db.``)
    Settings: ClassVar[type[BackendSettings]] = BackendSettings

    def __init__(
        self,
        settings: BackendSettings,
        storage: Storage,
        hooks: pluggy.PluginManager | None = None,
    ) -> None:
        from ._hooks import default_plugin_manager

        self.settings = settings
        self.storage = storage
        self.hooks = hooks if hooks is not None else default_plugin_manager()
        self._local_reload_lock = threading.Lock()

    # -- primitives ------------------------------------------------------
    @abc.abstractmethod
    def fetch(self, filename: str) -> Package | None:
        """The package stored under ``filename``, or None."""

    @abc.abstractmethod
    def all(self, name: str) -> list[Package]:
        """Every file of project ``name`` (normalize it first), highest version first, ties by filename."""

    @abc.abstractmethod
    def distinct(self) -> list[str]:
        """Sorted normalized names of the projects that have at least one file."""

    @abc.abstractmethod
    def _save_many(self, packages: Sequence[Package]) -> None:
        """Insert or replace by filename, in bulk; no hooks."""

    @abc.abstractmethod
    def _clear(self, package: Package) -> None:
        """Remove one package by filename; no error when absent; no hooks."""

    @abc.abstractmethod
    def _clear_all(self) -> None:
        """Remove everything; no hooks."""

    # -- optional primitives with generic defaults -------------------------
    def _iter_packages(self) -> Iterator[Package]:
        """Every package, in any order (override with one scan)."""
        for name in self.distinct():
            yield from self.all(name)

    def _replace_all(self, packages: Sequence[Package]) -> None:
        """Make the contents exactly ``packages``; override to do it atomically."""
        self._clear_all()
        self._save_many(packages)

    def _is_empty(self) -> bool:
        return not self.distinct()

    @contextmanager
    def _reload_lock(self, timeout: float) -> Iterator[bool]:
        """Hold the lock that makes ``reload_if_needed`` fill the cache once.

        Yields True when held, False when ``timeout`` seconds passed first.
        This default only serializes threads of one process: a backend
        shared between processes overrides it with its own primitive (a
        database lock, ``SET NX``, a conditional write).
        """
        held = self._local_reload_lock.acquire(timeout=timeout)
        try:
            yield held
        finally:
            if held:
                self._local_reload_lock.release()

    def _check_health(self) -> tuple[bool, str]:
        self.distinct()
        return True, "ok"

    # -- reads with generic fallbacks ------------------------------------
    def summary(self) -> list[dict[str, Any]]:
        """Per project, sorted by name: ``name``, ``summary`` of the highest version,
        ``last_modified`` of the newest file."""
        rows = []
        for name in self.distinct():
            packages = self.all(name)
            if packages:
                rows.append(summarize(name, packages))
        return rows

    def search(self, criteria: Mapping[str, Any], query_type: str = "and") -> list[Package]:
        """Per matching project, its highest matching version; sorted by name.

        ``criteria`` is ``{"name": [...], "summary": [...]}``; terms match as
        case-insensitive substrings with every character (``%``, ``_``,
        ``*``, ``\\``) literal; ``query_type`` "and" needs every term to
        match, "or" any.
        """
        terms = check_search_args(criteria, query_type)
        return search_packages(self._iter_packages(), terms, query_type)

    # -- writes (fire hooks) -----------------------------------------------
    def save(self, package: Package) -> None:
        """Insert or replace by filename."""
        self._save_many([package])
        self.hooks.hook.pkgcache_package_saved(cache=self, package=package)

    def save_many(self, packages: Iterable[Package]) -> None:
        """Insert or replace many, in bulk."""
        batch = list(packages)
        self._save_many(batch)
        if self.hooks.hook.pkgcache_package_saved.get_hookimpls():  # skip the loop when nobody listens
            for package in batch:
                self.hooks.hook.pkgcache_package_saved(cache=self, package=package)

    def clear(self, package: Package) -> None:
        """Remove one package; no error when absent."""
        self._clear(package)
        self.hooks.hook.pkgcache_package_cleared(cache=self, package=package)

    def clear_all(self) -> None:
        """Empty the cache (the storage is untouched)."""
        self._clear_all()

    def upload(
        self,
        filename: str,
        data: bytes | BinaryIO,
        name: str | None = None,
        version: str | None = None,
        summary: str | None = None,
        requires_python: str | None = None,
        overwrite: bool = True,
        last_modified: datetime | None = None,
        **metadata: Any,
    ) -> Package:
        """Write the file to storage, then its metadata to the cache.

        Name and version are parsed from ``filename`` when not given; the
        sha256 and md5 of the content are kept in ``data``. With
        ``overwrite=False`` an existing filename raises :class:`PackageExists`.
        """
        if name is None or version is None:
            parsed_name, parsed_version = parse_filename(filename)
            name, version = name or parsed_name, version or parsed_version
        if not overwrite and self.fetch(filename) is not None:
            raise PackageExists(f"{filename!r} is already stored; upload with overwrite=True to replace it")
        content, sha256, md5 = _hashed(data)
        package = Package(
            name,
            version,
            filename,
            last_modified,
            summary,
            requires_python=requires_python,
            hash_sha256=sha256,
            hash_md5=md5,
            **metadata,
        )
        try:
            self.storage.upload(package, content)  # type: ignore[arg-type]
        finally:
            if not isinstance(content, bytes):
                content.close()
        self.save(package)
        return package

    def delete(self, package: Package) -> None:
        """Remove the file from storage, then from the cache."""
        self.storage.delete(package)
        self.clear(package)

    def get_url(self, package: Package) -> str:
        """The storage's download URL or path of the file."""
        return self.storage.get_url(package)

    # -- reloads -------------------------------------------------------------
    def reload_from_storage(
        self, clear: bool = True, graceful: bool | None = None, progress: Progress | None = None
    ) -> ReloadResult:
        """Rebuild the cache from storage.

        Plain (the default): the contents are replaced, atomically where the
        backend can, so readers never see an empty cache; uploads made while
        it runs may be lost. Graceful (``graceful=True``, or the backend's
        ``graceful_reload`` setting): reconciled in place, losing no
        concurrent upload and resurrecting no concurrent delete. With
        ``clear=False`` nothing is removed, files are only added or updated.
        ``progress`` is called with the number of files listed so far.
        """
        if graceful is None:
            graceful = bool(getattr(self.settings, "graceful_reload", False))
        run = graceful_reload if graceful else plain_reload
        result = run(self, clear, progress)
        self.hooks.hook.pkgcache_reload_finished(cache=self, result=result)
        return result

    def reload_if_needed(self, timeout: float = RELOAD_LOCK_TIMEOUT) -> ReloadResult | None:
        """Reload when the cache is empty; exactly one of several processes does it.

        Returns the result when this call reloaded, None when the cache was
        already filled (possibly by another process while this one waited).
        """
        if not self._is_empty():
            return None
        with self._reload_lock(timeout) as held:
            if not held or not self._is_empty():
                return None
            return self.reload_from_storage()

    # -- health and lifetime ---------------------------------------------------
    def check_health(self) -> tuple[bool, str]:
        """``(ok, message)``; never raises, and the message holds no password."""
        try:
            return self._check_health()
        except Exception as err:  # the contract is "never raises"
            return False, f"{type(self).__name__}: {err}"

    def close(self) -> None:
        """Release connections; the cache must not be used afterwards."""
        self.storage.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
