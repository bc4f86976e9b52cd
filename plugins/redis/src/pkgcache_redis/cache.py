"""The Redis backend on redis-py, standalone or Redis Cluster.

Keys (``P`` is ``db.prefix``), chosen so that every read is one round trip:

=============================  =========================================  ===================
key                            holds                                      read by
=============================  =========================================  ===================
``P{<name>}:files``            hash filename -> package JSON              ``all(name)``
``P{<name>}:best``             summary row and search rows (JSON)         save/clear scripts
``P{<name>}:version``          counts the project's writes (its marker)   ``project_token``
``P{/index}:files``             hash filename -> package JSON (all files)  ``fetch``, ``search``
``P{/index}:summary``           hash name -> summary row                   ``distinct``, ``summary``
``P{/index}:serial``            counts changes of the project list         ``index_token``
``P{/index}:search``            hash name -> the project's search rows     ``search``
``P{/index}:versions``          cluster: name -> version of its summary    index script
``P{/index}:file-versions``     cluster: name NUL filename -> version      index script
``P{/index}:floor``             cluster: name -> version of last reload    index script
``P{/index}:reload-lock``       the reload lease (``SET NX PX``, renewed)  ``reload_if_needed``
``P{/index}:staging:<tag>``     a running plain reload's lease             the next reload
``P...~tmp.<tag>``             staged keys of a plain reload (with TTL)   the swap
=============================  =========================================  ===================

The hash tag of a project's keys is its name, so projects spread over the
slots of a cluster while a project's own keys share one slot: the script
that saves or clears a file and recomputes its project's summary row is
atomic there. The index keys share another slot, tagged ``{/index}``: no
project name holds a ``/``, so no project's keys can be the index's. On a standalone
server one Lua script updates both in one round trip (a file moving between
projects included). On a cluster no script can span the two slots, so a
write is two steps, and two writers reach the index in any order: the
project script is authoritative and numbers each state of the project
(``:version``), and the index script applies a project's state only when it
is newer than the one the index holds (see ``_cluster``). After any
interleaving the index therefore holds each project's latest state; a
process killed between the two steps leaves it one write behind until the
project's next write or the next reload.

A plain reload writes the new contents under fresh keys (same hash tags,
suffix ``~tmp.<tag>``, a TTL as the last guard) a batch at a time, holding
each project's name in memory and counting its rows from its staged files
before the switch (``_staging``), and renames them over
the live ones, in one MULTI/EXEC on a standalone server, so readers switch at
once and never see an empty cache. While it runs it holds a lease named by
its tag; the next reload deletes the staged keys of tags whose lease is gone
(a killed reload), never those of a running one or of another prefix; a
reload that fails (refused, or the server errs) drops its own at once.

``search`` reads no file but the winners: each project's search rows map
every distinct summary of its files to the first file in ``all()`` order that
has it (sort key and filename), kept by the same scripts and reloads as the
summary row, in the same writes. A file matches a search by its project's
name and its summary alone, so the highest matching file of a project is the
first, in ``all()`` order, of the search rows whose summary matches: one
HGETALL of ``:search`` (a row per project), matching in Python with the
shared rules' casefold, then one HMGET of the winners' files. A project's
row grows with its distinct summaries (usually a handful), and a write costs
a recount of the project's files only when the file it replaces or removes
was the first of its summary.

Each file's JSON carries the storage's change token first (``_codec``):
``_iter_tokens`` streams the index with HSCAN and decodes only that string,
so a graceful reload learns which files changed without decoding the rest.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

from pkgcache import (
    Cache,
    CacheError,
    Package,
    Storage,
    normalize_name,
)
from pkgcache.plugin import LeaseOps, hold_lease, search_packages

from . import _cluster
from ._codec import decode, encode, time_of, token_of
from ._connection import INDEX_TAG, STAGED, TAG_LENGTH, RedisConnection
from ._search import search_rows
from ._staging import Stage
from .settings import RedisSettings

__all__ = ["RedisCache"]

BATCH = 1000


class RedisCache(RedisConnection, Cache):
    """``pypi.db = redis``."""

    Settings = RedisSettings
    stores_tokens = True
    atomic_reload = True
    settings: RedisSettings

    #: seconds the reload lease lives unrenewed: the longest a killed holder blocks ``reload_if_needed``
    LOCK_TTL: ClassVar[float] = 30.0
    #: seconds a running plain reload's staging lease lives unrenewed: a killed reload's
    #: staged keys are removed by any reload started this long after it died
    STAGING_TTL: ClassVar[float] = 30.0
    #: seconds staged keys live at most (the last guard, should nobody reload again)
    STAGED_KEYS_TTL: ClassVar[float] = 24 * 3600.0

    def __init__(self, settings: RedisSettings, storage: Storage, **kwargs: Any) -> None:  # type: ignore[override]
        super().__init__(settings, storage, **kwargs)
        self._setup(settings)

    def __repr__(self) -> str:
        return f"RedisCache({self._address!r}, prefix={self.prefix!r})"

    # -- reads: one round trip each ---------------------------------------------
    def fetch(self, filename: str) -> Package | None:
        with self._errors():
            raw = self.client.hget(self.index_key, filename)
        return decode(raw) if raw is not None else None

    def all(self, name: str) -> list[Package]:
        with self._errors():
            values = self.client.hvals(self._files_key(normalize_name(name)))
        packages = [decode(v) for v in values]
        packages.sort(key=lambda p: p.filename)
        packages.sort(key=lambda p: p.sort_key, reverse=True)  # stored key: no version parsing
        return packages

    def distinct(self) -> list[str]:
        with self._errors():
            return sorted(self.client.hkeys(self.summary_key))

    def index_token(self) -> str:
        """The index's ``:serial``, counted whenever a project appears or vanishes, and
        at each plain reload's switch: one GET."""
        with self._errors():
            return str(self.client.get(self.serial_key) or 0)

    def project_token(self, name: str) -> str | None:
        """The project's write counter (``:version``, counted by every script and switch that
        changes its files) with its summary row, in one round trip to the project's slot;
        None when the project has no row, that is no file."""
        name = normalize_name(name)
        with self._errors():
            pipe = self.client.pipeline(transaction=False)
            pipe.get(self._best_key(name))
            pipe.get(self._version_key(name))
            best, version = pipe.execute()
        if best is None:
            return None
        return hashlib.blake2b(f"{version}\0{best}".encode(), digest_size=12).hexdigest()

    def summary(self) -> list[dict[str, Any]]:
        with self._errors():
            rows = self.client.hgetall(self.summary_key)
        out = []
        for name in sorted(rows):
            best = json.loads(rows[name])
            out.append({"name": name, "summary": best["s"] or None, "last_modified": time_of(best["t"])})
        return out

    def _scan_index(self) -> Iterator[tuple[str, str]]:
        """(filename, JSON) of every file, streamed (HSCAN, a page at a time): a file written
        or removed meanwhile may be missed, another may come twice if the hash is resized."""
        with self._errors():
            yield from self.client.hscan_iter(self.index_key, count=BATCH)

    def _iter_packages(self) -> Iterator[Package]:
        # one round trip (HVALS) for search, which reads every file anyway
        with self._errors():
            values = self.client.hvals(self.index_key)
        return (decode(v) for v in values)

    def _search(self, terms: dict[str, list[str]], query_type: str) -> list[Package]:
        with self._errors():
            rows = self.client.hgetall(self.search_key)
        winners = search_rows(rows, terms, query_type)
        if not winners:
            return []
        with self._errors():
            values = self.client.hmget(self.index_key, [filename for _, filename in winners])
        found = [decode(raw) for raw in values if raw is not None]
        # a winner missing from the index was cleared after we read the rows, or (on a
        # cluster) is not in the index yet: that project is searched in its own files
        for (name, _), raw in zip(winners, values, strict=True):
            if raw is None:
                found += search_packages(self.all(name), terms, query_type)
        found.sort(key=lambda p: p.name)
        return found

    def _iter_tokens(self) -> Iterator[tuple[str, str | None]]:
        return ((filename, token_of(raw)) for filename, raw in self._scan_index())

    def _fetch_many(self, filenames: Sequence[str]) -> dict[str, Package]:
        if not filenames:
            return {}
        with self._errors():
            values = self.client.hmget(self.index_key, list(filenames))
        return {f: decode(raw) for f, raw in zip(filenames, values, strict=True) if raw is not None}

    def _is_empty(self) -> bool:
        with self._errors():
            return not self.client.exists(self.summary_key)

    # -- writes ----------------------------------------------------------------
    def _save_many(self, packages: Sequence[Package]) -> None:
        with self._errors():
            if self.settings.clustered:
                for package in packages:
                    _cluster.save(self, package, encode(package))
                return
            for start in range(0, len(packages), BATCH):
                batch = packages[start : start + BATCH]
                # a pipeline asks SCRIPT EXISTS first: worth it for a batch, not for one save
                pipe = self.client.pipeline(transaction=False) if len(batch) > 1 else None
                for p in batch:
                    keys = [self.index_key, self.summary_key, self._files_key(p.name), self._best_key(p.name)]
                    keys += [self.search_key, self._version_key(p.name)]
                    self.scripts.save(keys=keys, args=[self.prefix, p.filename, encode(p), p.name], client=pipe)
                if pipe is not None:
                    pipe.execute()

    def _clear(self, package: Package) -> None:
        with self._errors():
            if self.settings.clustered:
                _cluster.clear(self, package)
            else:
                keys = [self.index_key, self.summary_key, self.search_key]
                self.scripts.clear(keys=keys, args=[self.prefix, package.filename])

    def _own_keys(self, pattern: str = "*") -> Iterator[str]:
        """Keys of this prefix (``P{...``) matching ``pattern`` after the brace."""
        escaped = "".join(f"\\{c}" if c in "*?[]\\" else c for c in self.prefix)
        yield from self.client.scan_iter(match=escaped + "{" + pattern, count=1000)

    def _delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), BATCH):
            pipe = self.client.pipeline(transaction=False)
            for key in keys[start : start + BATCH]:
                pipe.delete(key)
            pipe.execute()

    def _clear_all(self) -> None:
        with self._errors():
            # the projects' change counters stay: a project saved again must not come back
            # with a marker it had before, which a client may still hold as an ETag
            kept = (":reload-lock", "}:version", "}:serial")
            self._delete([k for k in self._own_keys() if not k.endswith(kept) and ":staging:" not in k])

    # -- plain reload: stage, then switch ---------------------------------------
    def _lease_ops(self, key: str) -> LeaseOps:
        def acquire(owner: str, ttl: float) -> bool:
            with self._errors():
                return bool(self.client.set(key, owner, nx=True, px=max(1, int(ttl * 1000))))

        def renew(owner: str, ttl: float) -> bool:
            with self._errors():
                return bool(self.scripts.renew(keys=[key], args=[owner, max(1, int(ttl * 1000))]))

        def release(owner: str) -> None:
            with self._errors():
                self.scripts.release(keys=[key], args=[owner])

        return LeaseOps(acquire, renew, release)

    def _survey(self, running: str) -> set[str]:
        """One scan of this prefix's keys: delete staged keys of earlier reloads that died (their
        lease is gone); return the projects that have live keys (a reload killed mid-switch on
        a cluster can leave projects the index does not list)."""
        by_tag: dict[str, list[str]] = defaultdict(list)
        projects: set[str] = set()
        start = len(self.prefix) + 1
        for key in self._own_keys():
            tag = key[-TAG_LENGTH:]
            if key[:-TAG_LENGTH].endswith(STAGED):  # by suffix: a project name may hold "~tmp."
                by_tag[tag].append(key)
            elif key.endswith(("}:files", "}:best")) and not key.startswith(INDEX_TAG + "}", start):
                projects.add(key[start : key.rindex("}:")])
        dead = [
            key
            for tag, keys in by_tag.items()
            if tag != running and not self.client.exists(self._staging_key(tag))
            for key in keys
        ]
        self._delete(dead)
        return projects

    @contextmanager
    def _replacing(self) -> Iterator[Callable[[Sequence[Package]], None]]:
        """Fill fresh keys batch by batch (see ``_staging``), then rename them over the live
        ones; on an exception drop them. The staging lease lives throughout."""
        tag = uuid.uuid4().hex[:TAG_LENGTH]
        with hold_lease(self._lease_ops(self._staging_key(tag)), timeout=0, ttl=self.STAGING_TTL) as held:
            if not held:  # a fresh random key: only a broken server refuses it
                raise CacheError(f"redis server at {self._address} refused a new staging key")
            with self._errors():
                stage = Stage(self, STAGED + tag, live=self._survey(running=tag))

            def add(batch: Sequence[Package]) -> None:
                with self._errors():
                    stage.add(batch)

            try:
                yield add
                with self._errors():
                    stage.switch()
            except BaseException:
                stage.drop()
                raise

    def _replace_all(self, packages: Sequence[Package]) -> None:
        with self._replacing() as add:
            for start in range(0, len(packages), BATCH):
                add(packages[start : start + BATCH])

    # -- lock, health, lifetime ------------------------------------------------
    @contextmanager
    def _reload_lock(self, timeout: float) -> Iterator[bool]:
        """A lease (``SET NX PX`` renewed while we live): a killed holder blocks for ``LOCK_TTL`` at most."""
        with hold_lease(self._lease_ops(self.lock_key), timeout, ttl=self.LOCK_TTL) as held:
            yield held

    def _check_health(self) -> tuple[bool, str]:
        try:
            with self._errors():
                self.client.ping()
        except CacheError as err:
            return False, str(err)
        return True, f"redis backend at {self._address} answers"

    def close(self) -> None:
        if self._client is not None:
            if self.settings.clustered:
                # redis-py's cluster close() leaves the nodes' pools connected (the node
                # clients do not own their pools): disconnect them, or sockets leak
                for node in self._client.get_nodes():
                    if node.redis_connection is not None:
                        node.redis_connection.connection_pool.disconnect()
            self._client.close()
            self._client = None
        super().close()
