"""The Cache interface every backend implements.

Method names follow pypicloud's ``ICache`` so that code written for it ports
directly. The public methods live here, once: they validate arguments, fire
hooks and orchestrate reloads. A backend implements a small set of
primitives and overrides the optional ones only where it can do better:

==========================  ============================================
must implement              ``fetch``, ``all``, ``distinct``,
                            ``_save_many``, ``_clear``, ``_clear_all``
should override for speed   ``summary``, ``_search``, ``_iter_packages``,
                            ``_replace_all`` (atomic), ``_is_empty``,
                            ``_iter_tokens`` and ``_replacing`` (they
                            make reloads incremental and streaming)
should provide              ``_reload_lock`` (cross-process),
                            ``_check_health``, ``close``
==========================  ============================================

``all`` must return the highest version first (ties by filename): the
shared rule :func:`pkgcache.rules.sort_packages` does it in Python; a database can ``ORDER BY``
:attr:`Package.sort_key` instead.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, BinaryIO, ClassVar

import pluggy

from ._markers import digest_of_names, digest_of_packages, keys_only
from ._metadata import parse_filename
from ._plugin_settings import BackendSettings
from ._reload import Guard, Progress, ReloadResult, graceful_reload, plain_reload
from ._upload import new_package
from .exceptions import PackageExists
from .package import Package, can_be_stored, check_identity
from .rules import (
    best_and_newest,
    check_search_args,
    comes_first,
    matches,
    search_packages,
    sort_packages,
    summarize,
)
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


class Cache(abc.ABC):
    """Base class of every backend; see the module docstring for what to implement."""

    #: Capabilities, declared by the backend (the reload and the conformance kit read
    #: them; nothing is guessed from which methods a subclass overrides).
    #: ``stores_tokens``: :attr:`Package.token` is saved and read back, and
    #: ``_iter_tokens`` streams it with one cheap query, so a graceful reload reads
    #: from the storage only the files whose token changed.
    stores_tokens: ClassVar[bool] = False
    #: ``atomic_reload``: ``_replace_all``/``_replacing`` switch the whole contents at
    #: once, so readers during a plain reload see the old or the new contents, never an
    #: empty or partial cache (the default clears, then saves).
    atomic_reload: ClassVar[bool] = False

    #: the backend's settings model (the ``db.*`` keys without ``db.``)
    Settings: ClassVar[type[BackendSettings]] = BackendSettings

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give every backend's ``fetch``, ``all`` and ``project_token`` the one rule for keys
        that cannot be stored (:func:`~pkgcache.package.is_key`), so that no backend needs its own."""
        super().__init_subclass__(**kwargs)
        for name, missing in (("fetch", None), ("all", []), ("project_token", None)):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "__keys_only__", False):
                setattr(cls, name, keys_only(method, missing))

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

    # -- reload primitives: a backend that persists ``Package.token`` overrides both ---
    def _iter_tokens(self) -> Iterator[tuple[str, str | None]]:
        """``(filename, stored token)`` of every file, streamed, in any order.

        A backend that stores :attr:`Package.token` (saving it in
        ``_save_many``/``_replace_all``/``_replacing`` and returning it from
        ``fetch``/``all``/``_iter_packages``) overrides this with one cheap
        query, and declares ``stores_tokens = True``: a graceful reload then
        reads from the storage only the files whose token changed. Without
        it, a graceful reload re-reads every file and compares contents.
        """
        for package in self._iter_packages():
            yield package.filename, package.token

    def _fetch_many(self, filenames: Sequence[str]) -> dict[str, Package]:
        """The stored packages of those ``filenames`` that are in the cache, by filename:
        what a graceful reload compares the few files whose token changed with.
        The default fetches each; a server backend overrides it with one query."""
        found = {}
        for filename in filenames:
            package = self.fetch(filename)
            if package is not None:
                found[filename] = package
        return found

    @contextmanager
    def _replacing(self) -> Iterator[Callable[[Sequence[Package]], None]]:
        """Yield ``add(batch)``; on a normal exit the contents become exactly what
        was added (a filename added twice keeps the last), on an exception
        nothing changes. Until the exit, reads (this cache's included) see the
        old contents: a plain reload compares with them as it goes.

        The default collects everything and calls :meth:`_replace_all`; a
        backend overrides it to fill staging tables or keys batch by batch,
        so that a plain reload holds one batch in memory, not the storage.
        """
        collected: dict[str, Package] = {}

        def add(batch: Sequence[Package]) -> None:
            for package in batch:
                collected[package.filename] = package

        yield add
        self._replace_all(list(collected.values()))

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

    # -- change markers: what an index server validates its pages with ----------
    def project_token(self, name: str) -> str | None:
        """An opaque marker of project ``name`` (normalized first) that changes whenever
        any of its files is saved, replaced or cleared; None when it has no file.

        An index server answers ``If-None-Match`` with it and keys its page cache
        on it, so it must be cheap (one small read) and must change on a delete
        or a re-upload with the same time, which the newest time alone misses.
        Equal markers mean equal ``all(name)``. The default digests ``all(name)``:
        right but not cheap; a backend overrides it with a stored marker.
        """
        packages = self.all(name)
        return digest_of_packages(packages) if packages else None

    def index_token(self) -> str:
        """An opaque marker of the project list that changes whenever a project
        appears or vanishes (what ``/simple/`` shows). The default digests
        ``distinct()``; a backend overrides it with a stored marker."""
        return digest_of_names(self.distinct())

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
        # a term no stored text can hold (a NUL, a lone surrogate) matches nothing
        kept = {field: [t for t in found if can_be_stored(t)] for field, found in terms.items()}
        if kept != terms and (query_type == "and" or not any(kept.values())):
            return []
        return self._search(kept, query_type)

    def _search(self, terms: dict[str, list[str]], query_type: str) -> list[Package]:
        """What ``search`` answers, its arguments already checked: ``terms`` holds the
        casefolded terms of ``"name"`` and of ``"summary"`` (each a list, maybe empty),
        ``query_type`` is "and" or "or". Override to search on the server."""
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
        /,
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
        sha256 and md5 of the content are kept in ``data``. The filename is the
        identity: with ``overwrite=False`` an existing filename, in any project,
        raises :class:`PackageExists`; with ``overwrite=True`` the new file
        replaces it, and a copy kept under another project or version is deleted.
        Names, versions and filenames that a storage listing would not read
        back (:func:`~pkgcache.package.check_identity`), and metadata over the
        limits of :class:`Package`, raise :class:`InvalidPackage` before
        anything is written.
        """
        if name is None or version is None:
            parsed_name, parsed_version = parse_filename(filename)
            name, version = name or parsed_name, version or parsed_version
        check_identity(name, version, filename)
        existing = self.fetch(filename)
        if existing is not None and not overwrite:
            raise PackageExists(
                f"{filename!r} is already stored (project {existing.name!r}, version {existing.version!r}); "
                "upload with overwrite=True to replace it"
            )
        package, content = new_package(filename, data, name, version, summary, requires_python, last_modified, metadata)
        try:
            package = self.storage.upload(package, content)  # type: ignore[arg-type]
        finally:
            if not isinstance(content, bytes):
                content.close()
        if existing is not None and not self.storage.same_object(existing, package):
            # the filename is the identity: the copy under another project or version goes,
            # or every reload would meet two files of one filename
            self.storage.delete(existing)
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
        self,
        clear: bool = True,
        graceful: bool | None = None,
        progress: Progress | None = None,
        *,
        allow_empty: bool = False,
        max_delete: float | None = None,
    ) -> ReloadResult:
        """Rebuild the cache from storage.

        Plain (the default): the contents are replaced, atomically where the
        backend can, so readers never see an empty cache; uploads made while
        it runs may be lost. Graceful (``graceful=True``, or the backend's
        ``graceful_reload`` setting): reconciled in place, losing no
        concurrent upload and resurrecting no concurrent delete. With
        ``clear=False`` nothing is removed, files are only added or updated,
        graceful or not (pypicloud's graceful reload ignores ``clear`` and
        removes what the storage lacks: here that is ``clear=True``, the
        default, so code ported from pypicloud behaves alike unless it
        passes ``clear=False``, which the command line's ``--keep`` relies on).
        ``progress`` is called with the number of files listed so far.

        Nothing is written when the storage cannot be read
        (:class:`StorageUnavailable`), nor when the storage lists no file
        while the cache holds some, unless ``allow_empty=True``, nor when more
        than the share ``max_delete`` (0 to 1) of the cache would be removed
        (:class:`ReloadRefused` in both cases).
        """
        guard = Guard(allow_empty=allow_empty, max_delete=max_delete)
        if graceful is None:
            graceful = bool(getattr(self.settings, "graceful_reload", False))
        run = graceful_reload if graceful else plain_reload
        result = run(self, clear, progress, guard)
        self.hooks.hook.pkgcache_reload_finished(cache=self, result=result)
        return result

    def is_empty(self) -> bool:
        """True when the cache holds no file: one cheap read on every backend (a server
        asks it at start-up to know whether it can answer at once)."""
        return self._is_empty()

    def reload_if_needed(self, timeout: float = RELOAD_LOCK_TIMEOUT) -> ReloadResult | None:
        """Reload when the cache is empty; exactly one of several processes does it.

        Returns the result when this call reloaded, None when the cache was
        already filled (possibly by another process while this one waited).
        A storage that cannot be read raises :class:`StorageUnavailable`.
        """
        if not self._is_empty():
            return None
        with self._reload_lock(timeout) as held:
            if not held or not self._is_empty():
                return None
            return self.reload_from_storage()

    def reload_lease(self, timeout: float = 0) -> AbstractContextManager[bool]:
        """The lease that lets one process at a time reload this cache, as a context manager.

        Yields True when held, False when ``timeout`` seconds passed first. A
        periodic job shared by several servers takes it with ``timeout=0`` and
        skips its turn when another holds it, so that the storage is listed
        once per interval, not once per server.
        """
        return self._reload_lock(timeout)

    # -- health and lifetime ---------------------------------------------------
    def check_health(self) -> tuple[bool, str]:
        """``(ok, message)`` of the backend and of the storage, both of which a reload needs;
        never raises, and the message holds no password."""
        checks = []
        for what, check in ((type(self).__name__, self._check_health), ("storage", self.storage.check_health)):
            try:
                checks.append(check())
            except Exception as err:  # the contract is "never raises"
                checks.append((False, f"{what}: {err}"))
        (ok, message), (storage_ok, storage_message) = checks
        return ok and storage_ok, f"{message}; storage: {storage_message}"

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
