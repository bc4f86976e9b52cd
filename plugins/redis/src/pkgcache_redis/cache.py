"""The Redis backend on redis-py, standalone or Redis Cluster.

Keys (``P`` is ``db.prefix``), chosen so that every read is one round trip:

=============================  =========================================  ===================
key                            holds                                      read by
=============================  =========================================  ===================
``P{<name>}:files``            hash filename -> package JSON              ``all(name)``
``P{<name>}:best``             the project's summary row (JSON)           save/clear scripts
``P{index}:files``             hash filename -> package JSON (all files)  ``fetch``, ``search``
``P{index}:summary``           hash name -> summary row                   ``distinct``, ``summary``
``P{index}:reload-lock``       the reload lock (``SET NX PX``)            ``reload_if_needed``
=============================  =========================================  ===================

The hash tag of a project's keys is its name, so projects spread over the
slots of a cluster while a project's own keys share one slot: the script
that saves or clears a file and recomputes its project's summary row is
atomic there. The ``{index}`` keys share another slot. On a standalone
server one Lua script updates both in one round trip (a file moving between
projects included); on a cluster the project script and the index update are
two steps, so a crash between them can leave the index one write behind
until the next reload.

A plain reload writes the new contents under fresh keys (same hash tags)
and renames them over the live ones, in one MULTI/EXEC on a standalone
server, so readers switch at once and never see an empty cache.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from pkgcache import Cache, CacheUnavailable, Package, Storage, mask_url, normalize_name
from pkgcache.cache import best_and_newest

from . import _scripts
from .settings import RedisSettings

__all__ = ["RedisCache"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
BATCH = 1000


def _micros(value: datetime) -> str:
    return f"{(value - _EPOCH) // timedelta(microseconds=1):020d}"


def _time(micros: str) -> datetime:
    return _EPOCH + timedelta(microseconds=int(micros))


def _encode(p: Package) -> str:
    return json.dumps(
        {
            "n": p.name,
            "v": p.version,
            "f": p.filename,
            "k": p.sort_key,
            "t": _micros(p.last_modified),
            "s": p.summary,
            "d": p.data,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _decode(raw: str) -> Package:
    d = json.loads(raw)
    return Package.restore(d["n"], d["v"], d["f"], _time(d["t"]), d["s"], d["d"], d["k"])


def _best_of(packages: Sequence[Package]) -> str:
    """The project's row as the Lua scripts keep it (see ``_scripts``)."""
    first, newest = best_and_newest(packages)
    return json.dumps(
        {"s": first.summary or "", "t": _micros(newest), "k": first.sort_key, "f": first.filename},
        ensure_ascii=False,
    )


class RedisCache(Cache):
    """``pypi.db = redis``."""

    Settings = RedisSettings
    settings: RedisSettings

    def __init__(self, settings: RedisSettings, storage: Storage, **kwargs: Any) -> None:  # type: ignore[override]
        super().__init__(settings, storage, **kwargs)
        raw = settings.url.get_secret_value()
        self._address = mask_url(raw)
        self._password = urlsplit(raw).password
        self.prefix = settings.prefix
        self.index_key = f"{self.prefix}{{index}}:files"
        self.summary_key = f"{self.prefix}{{index}}:summary"
        self.lock_key = f"{self.prefix}{{index}}:reload-lock"
        self._client: Any = None
        self._scripts: Any = None

    def __repr__(self) -> str:
        return f"RedisCache({self._address!r}, prefix={self.prefix!r})"

    # -- connection and errors ----------------------------------------------
    @property
    def client(self) -> Any:
        """The redis-py client, made on first use (a cluster client connects when made)."""
        if self._client is None:
            with self._errors():
                self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        timeout = self.settings.socket_timeout
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
        }
        url = self.settings.url.get_secret_value()
        if self.settings.clustered:
            client: Any = redis.RedisCluster.from_url(url, **options)
        else:
            client = redis.Redis.from_url(url, retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2), **options)
        self._scripts = SimpleNamespace(
            save=client.register_script(_scripts.SAVE),
            clear=client.register_script(_scripts.CLEAR),
            project_save=client.register_script(_scripts.PROJECT_SAVE),
            project_clear=client.register_script(_scripts.PROJECT_CLEAR),
            release=client.register_script(_scripts.RELEASE),
            rename_pairs=client.register_script(_scripts.RENAME_PAIRS),
        )
        return client

    @property
    def scripts(self) -> Any:
        """The Lua scripts, registered with the client (made on first use)."""
        _ = self.client
        return self._scripts

    def _scrub(self, message: str) -> str:
        return message.replace(self._password, "***") if self._password else message

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, RedisClusterException) as err:
            raise CacheUnavailable(self._scrub(f"redis backend cannot reach {self._address}: {err}")) from err

    def _files_key(self, name: str) -> str:
        return f"{self.prefix}{{{name}}}:files"

    def _best_key(self, name: str) -> str:
        return f"{self.prefix}{{{name}}}:best"

    # -- reads: one round trip each ---------------------------------------------
    def fetch(self, filename: str) -> Package | None:
        with self._errors():
            raw = self.client.hget(self.index_key, filename)
        return _decode(raw) if raw is not None else None

    def all(self, name: str) -> list[Package]:
        with self._errors():
            values = self.client.hvals(self._files_key(normalize_name(name)))
        packages = [_decode(v) for v in values]
        packages.sort(key=lambda p: p.filename)
        packages.sort(key=lambda p: p.sort_key, reverse=True)  # stored key: no version parsing
        return packages

    def distinct(self) -> list[str]:
        with self._errors():
            return sorted(self.client.hkeys(self.summary_key))

    def summary(self) -> list[dict[str, Any]]:
        with self._errors():
            rows = self.client.hgetall(self.summary_key)
        out = []
        for name in sorted(rows):
            best = json.loads(rows[name])
            out.append({"name": name, "summary": best["s"] or None, "last_modified": _time(best["t"])})
        return out

    def _iter_packages(self) -> Iterator[Package]:
        with self._errors():
            values = self.client.hvals(self.index_key)
        return (_decode(v) for v in values)

    def _is_empty(self) -> bool:
        with self._errors():
            return not self.client.exists(self.summary_key)

    # -- writes ----------------------------------------------------------------
    def _save_many(self, packages: Sequence[Package]) -> None:
        with self._errors():
            if self.settings.clustered:
                for package in packages:
                    self._cluster_save(package)
                return
            for start in range(0, len(packages), BATCH):
                batch = packages[start : start + BATCH]
                # a pipeline asks SCRIPT EXISTS first: worth it for a batch, not for one save
                pipe = self.client.pipeline(transaction=False) if len(batch) > 1 else None
                for p in batch:
                    keys = [self.index_key, self.summary_key, self._files_key(p.name), self._best_key(p.name)]
                    self.scripts.save(keys=keys, args=[self.prefix, p.filename, _encode(p), p.name], client=pipe)
                if pipe is not None:
                    pipe.execute()

    def _cluster_save(self, p: Package) -> None:
        old = self.client.hget(self.index_key, p.filename)
        if old is not None and json.loads(old)["n"] != p.name:
            self._cluster_clear_project(json.loads(old)["n"], p.filename)
        encoded = _encode(p)
        best = self.scripts.project_save(
            keys=[self._files_key(p.name), self._best_key(p.name)], args=[p.filename, encoded]
        )
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self.index_key, p.filename, encoded)
        pipe.hset(self.summary_key, p.name, best)
        pipe.execute()

    def _cluster_clear_project(self, name: str, filename: str) -> None:
        _, best = self.scripts.project_clear(keys=[self._files_key(name), self._best_key(name)], args=[filename])
        if best:
            self.client.hset(self.summary_key, name, best)
        else:
            self.client.hdel(self.summary_key, name)

    def _clear(self, package: Package) -> None:
        with self._errors():
            if not self.settings.clustered:
                self.scripts.clear(keys=[self.index_key, self.summary_key], args=[self.prefix, package.filename])
                return
            old = self.client.hget(self.index_key, package.filename)
            if old is not None:
                self._cluster_clear_project(json.loads(old)["n"], package.filename)
                self.client.hdel(self.index_key, package.filename)

    def _own_keys(self) -> Iterator[str]:
        pattern = "".join(f"\\{c}" if c in "*?[]\\" else c for c in self.prefix)
        yield from self.client.scan_iter(match=pattern + "{*", count=1000)

    def _clear_all(self) -> None:
        with self._errors():
            keys = [k for k in self._own_keys() if not k.endswith(":reload-lock")]
            for start in range(0, len(keys), BATCH):
                pipe = self.client.pipeline(transaction=False)
                for key in keys[start : start + BATCH]:
                    pipe.delete(key)
                pipe.execute()

    def _replace_all(self, packages: Sequence[Package]) -> None:
        """Build under fresh keys, then rename them over the live ones."""
        tmp = f"~{uuid.uuid4().hex[:12]}"
        projects: dict[str, dict[str, Package]] = defaultdict(dict)
        for p in packages:
            projects[p.name][p.filename] = p
        with self._errors():
            old_names = set(self.client.hkeys(self.summary_key))
            renames: list[tuple[str, str]] = []
            pipe = self.client.pipeline(transaction=False)
            queued = 0
            index: dict[str, str] = {}
            summary: dict[str, str] = {}
            for name, files in projects.items():
                encoded = {f: _encode(p) for f, p in files.items()}
                index.update(encoded)
                best = _best_of(list(files.values()))
                summary[name] = best
                fk, bk = self._files_key(name), self._best_key(name)
                pipe.hset(fk + tmp, mapping=encoded)
                pipe.set(bk + tmp, best)
                renames += [(fk + tmp, fk), (bk + tmp, bk)]
                queued += len(files)
                if queued >= BATCH * 5:
                    pipe.execute()
                    pipe, queued = self.client.pipeline(transaction=False), 0
            items = list(index.items())
            for start in range(0, len(items), BATCH * 5):
                pipe.hset(self.index_key + tmp, mapping=dict(items[start : start + BATCH * 5]))
            if summary:
                pipe.hset(self.summary_key + tmp, mapping=summary)
                renames += [(self.index_key + tmp, self.index_key), (self.summary_key + tmp, self.summary_key)]
            pipe.execute()
            stale = [k for n in old_names - set(projects) for k in (self._files_key(n), self._best_key(n))]
            if not summary:
                stale += [self.index_key, self.summary_key]
            if self.settings.clustered:
                self._cluster_swap(renames, stale)
                return
            swap = self.client.pipeline(transaction=True)  # one atomic switch for every reader
            for source, target in renames:
                swap.rename(source, target)
            for key in stale:
                swap.delete(key)
            swap.execute()

    def _cluster_swap(self, renames: list[tuple[str, str]], stale: list[str]) -> None:
        """Rename slot by slot (a cluster has no transaction across slots, and redis-py
        pipelines refuse RENAME and EVALSHA there): atomic per project, never empty."""
        by_slot: dict[int, list[str]] = defaultdict(list)
        for source, target in renames:
            by_slot[self.client.keyslot(target)] += [source, target]
        for keys in by_slot.values():
            self.scripts.rename_pairs(keys=keys, args=[])
        for key in stale:
            self.client.delete(key)

    # -- lock, health, lifetime ------------------------------------------------
    @contextmanager
    def _reload_lock(self, timeout: float) -> Iterator[bool]:
        token = uuid.uuid4().hex
        deadline = time.monotonic() + timeout
        with self._errors():
            held = bool(self.client.set(self.lock_key, token, nx=True, px=int(timeout * 1000)))
            while not held and time.monotonic() < deadline:
                time.sleep(0.05)
                held = bool(self.client.set(self.lock_key, token, nx=True, px=int(timeout * 1000)))
        try:
            yield held
        finally:
            if held:
                with self._errors():
                    self.scripts.release(keys=[self.lock_key], args=[token])

    def _check_health(self) -> tuple[bool, str]:
        try:
            with self._errors():
                self.client.ping()
        except CacheUnavailable as err:
            return False, str(err)
        except RedisError as err:
            return False, self._scrub(f"redis backend at {self._address}: {err}")
        return True, f"redis backend at {self._address} answers"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        super().close()
