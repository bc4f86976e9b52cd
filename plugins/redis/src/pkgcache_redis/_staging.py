"""A plain reload's staged keys, filled batch by batch, then switched over the live ones.

Memory is one batch plus the name of each project, never the storage: each
batch goes to the staged keys in one pipeline. The pipeline first asks the
staged index for the batch's filenames (it runs before the batch's writes,
in order): a filename already staged by an earlier batch under another
project (the last one wins) is removed from that project's staged files.
Before the switch, the projects' rows (summary row, search rows, see
``_scripts``) are counted from their staged files, a few hundred projects
at a time: holding them while the batches pass would cost a summary
string per distinct summary of every project (about 50 MB at 105,000 files),
reading the staged files back costs about a second of CPU there.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from itertools import islice
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from pkgcache import CacheError, Package

from . import _cluster
from ._codec import encode, fields, micros

if TYPE_CHECKING:
    from .cache import RedisCache

#: commands per send of the switch's MULTI/EXEC
CHUNK = 5000
#: projects per DEL in the switch, and per pipeline when their rows are counted
BATCH = 500


def multi_exec(client: Any, commands: Iterable[tuple[str, ...]]) -> None:
    """One MULTI/EXEC, its commands sent a chunk at a time: the server holds the queued
    transaction, so memory here is one chunk, not one command per key of every project
    (what a redis-py pipeline would build). Any error before EXEC closes the connection,
    and with it the server discards the transaction: nothing is switched."""
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        conn.send_command("MULTI")
        conn.read_response()
        it = iter(commands)
        while chunk := list(islice(it, CHUNK)):
            conn.send_packed_command(conn.pack_commands(chunk))
            for _ in chunk:
                conn.read_response()  # QUEUED; a refused command raises
        conn.send_command("EXEC")
        replies = conn.read_response()
    except BaseException:
        conn.disconnect()
        raise
    finally:
        pool.release(conn)
    for reply in replies or []:
        if isinstance(reply, Exception):
            raise reply


class Summaries:
    """Each project's rows as the Lua scripts keep them (see ``_scripts``), updated file by file."""

    def __init__(self) -> None:
        #: name -> [sort_key, filename, summary, newest time]: the first file in all() order
        self.rows: dict[str, list[str]] = {}
        #: name -> its search rows: summary -> [sort_key, filename] of the first file that has it
        self.groups: dict[str, dict[str, list[str]]] = {}

    def add(self, p: Package) -> None:
        self.add_fields(p.name, p.sort_key, p.filename, p.summary or "", micros(p.last_modified))

    def add_stored(self, raw: str) -> None:
        """Add a file from its stored JSON, without making a Package."""
        d = fields(raw)
        self.add_fields(d["n"], d["k"], d["f"], d["s"] or "", d["t"])

    def add_fields(self, name: str, k: str, f: str, s: str, t: str) -> None:
        row = self.rows.get(name)
        if row is None:
            self.rows[name] = [k, f, s, t]
            self.groups[name] = {s: [k, f]}
            return
        if k > row[0] or (k == row[0] and f < row[1]):
            row[:3] = k, f, s
        if t > row[3]:
            row[3] = t
        groups = self.groups[name]
        entry = groups.get(s)
        if entry is None or k > entry[0] or (k == entry[0] and f < entry[1]):
            groups[s] = [k, f]

    def encoded(self, name: str) -> tuple[str, str, str]:
        """The project's ``:best`` value, its summary row and its search rows."""
        k, f, s, t = self.rows[name]
        search = "\0".join(
            x for summary, (key, filename) in self.groups[name].items() for x in (summary, key, filename)
        )
        row = {"s": s, "t": t, "k": k, "f": f}
        best = json.dumps({**row, "g": self.groups[name]}, ensure_ascii=False)
        return best, json.dumps(row, ensure_ascii=False), search


class Stage:
    """The staged keys of one plain reload (suffix ``tmp``) and what it added so far."""

    def __init__(self, cache: RedisCache, tmp: str, live: set[str]) -> None:
        self.cache, self.tmp, self.live = cache, tmp, live
        self.expire = int(cache.STAGED_KEYS_TTL * 1000)
        #: the projects staged so far (some may have lost every file to another project since)
        self.names: set[str] = set()

    def add(self, batch: Sequence[Package]) -> None:
        latest = {p.filename: p for p in batch}
        if not latest:
            return
        cache, tmp, expire = self.cache, self.tmp, self.expire
        pipe = cache.client.pipeline(transaction=False)
        filenames = list(latest)
        pipe.hmget(cache.index_key + tmp, filenames)
        index: dict[str, str] = {}
        projects: dict[str, dict[str, str]] = defaultdict(dict)
        for filename, p in latest.items():
            index[filename] = projects[p.name][filename] = encode(p)
        self.names.update(projects)
        for name, files in projects.items():
            key = cache._files_key(name) + tmp
            pipe.hset(key, mapping=files)
            pipe.pexpire(key, expire)
        pipe.hset(cache.index_key + tmp, mapping=index)
        pipe.pexpire(cache.index_key + tmp, expire)
        before = pipe.execute()[0]
        moved: list[tuple[str, str]] = []
        for filename, old in zip(filenames, before, strict=True):
            if old is not None:  # staged by an earlier batch
                was = json.loads(old)["n"]
                if was != latest[filename].name:
                    moved.append((was, filename))
        if moved:
            pipe = cache.client.pipeline(transaction=False)
            for was, filename in moved:
                pipe.hdel(cache._files_key(was) + tmp, filename)
            pipe.execute()

    def _stage_rows(self) -> list[str]:
        """Count each project's rows from its staged files and stage them, a pipeline of
        projects at a time; return the projects that have files."""
        cache, tmp, expire = self.cache, self.tmp, self.expire
        staged = sorted(self.names)
        names: list[str] = []
        for start in range(0, len(staged), BATCH):
            chunk = staged[start : start + BATCH]
            pipe = cache.client.pipeline(transaction=False)
            for name in chunk:
                pipe.hvals(cache._files_key(name) + tmp)
            counted = Summaries()
            for values in pipe.execute():
                for raw in values:
                    counted.add_stored(raw)
            pipe = cache.client.pipeline(transaction=False)
            summary: dict[str, str] = {}
            search: dict[str, str] = {}
            for name in chunk:
                if name in counted.rows:  # else every file it had moved to another project
                    names.append(name)
                    best, summary[name], search[name] = counted.encoded(name)
                    pipe.set(cache._best_key(name) + tmp, best, px=expire)
            for key, mapping in ((cache.summary_key, summary), (cache.search_key, search)):
                if mapping:
                    pipe.hset(key + tmp, mapping=mapping)
                    pipe.pexpire(key + tmp, expire)
            pipe.execute()
        return names

    def switch(self) -> None:
        """Stage the projects' rows, then rename the staged keys over the live ones."""
        cache, tmp = self.cache, self.tmp
        names = self._stage_rows()
        gone = sorted((self.live | set(cache.client.hkeys(cache.summary_key))) - set(names))
        if cache.settings.clustered:
            _cluster.switch(cache, names, gone, tmp)
            return
        multi_exec(cache.client, self._swaps(names, gone))

    def _swaps(self, names: list[str], gone: list[str]) -> Iterator[tuple[str, ...]]:
        """The switch's commands, made as they are sent: the index keys go last."""
        cache, tmp = self.cache, self.tmp
        index = (cache.index_key, cache.summary_key, cache.search_key)
        if not names:
            yield ("DEL", *index)
        for name in [*names, ""] if names else []:
            for target in (cache._files_key(name), cache._best_key(name)) if name else index:
                yield ("RENAME", target + tmp, target)
                yield ("PERSIST", target)
            if name:
                yield ("INCR", cache._version_key(name))  # the project's change marker moves
        for start in range(0, len(gone), BATCH):
            yield ("DEL", *[k for n in gone[start : start + BATCH] for k in (cache._files_key(n), cache._best_key(n))])
            for n in gone[start : start + BATCH]:
                yield ("INCR", cache._version_key(n))
        yield ("INCR", cache.serial_key)  # the project list may have changed

    def drop(self) -> None:
        """Remove what was staged (the reload failed); should the server not answer,
        the TTL and the next reload's survey remove it."""
        cache, tmp = self.cache, self.tmp
        keys = [k + tmp for n in self.names for k in (cache._files_key(n), cache._best_key(n))]
        keys += [cache.index_key + tmp, cache.summary_key + tmp, cache.search_key + tmp]
        with suppress(RedisError, CacheError):
            cache._delete(keys)
