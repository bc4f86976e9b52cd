"""Plain reload on DynamoDB: reconcile in place, streamed, so that readers never see an empty cache.

DynamoDB cannot switch a table's contents at once, and deleting everything
before writing everything showed readers an empty cache. Instead only what
differs is written: new and changed files, the rows of the projects they
touch, and deletes of files and rows that are gone. Readers meanwhile see
the old state, the new one, or per project a mix of both, never nothing.

Streaming: the listing arrives a batch at a time (:class:`Reconciler.add`);
each batch is compared with the files it names (BatchGetItem) and what
differs is spooled to a temporary file; nothing is written until the
listing is complete, so a reload that fails or is refused changes nothing.
What stays in memory is one batch, 8 bytes per listed filename (their
hashes) and, per project, the few files its final row rests on (best,
newest, the highest of each summary): never the listing.

Crash safety: before files are touched, their projects' rows are marked
``dirty`` (the time it was marked), a chunk at a time; the marks are renewed
while the reload runs, and each project's final row clears its mark at the
end. A reload killed at any point thus leaves every row it may have made
wrong marked dirty; a reader that meets a dirty row past its time, a writer
to that project, or the next reload, recomputes the row from the files
(``_rows.settle``).
"""

from __future__ import annotations

import heapq
import pickle
import tempfile
import time
import uuid
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import IO

from pkgcache import Package

from ._items import LOCK_NAME, SUMMARIES_LIMIT, comes_first, micros, package_item, row_for, same_row
from ._rows import _full_row, settle
from ._tables import Tables

__all__ = ["CHUNK_FILES", "Reconciler", "dirty_mark"]

#: file writes and deletes per chunk (each chunk's projects are marked dirty before its files change)
CHUNK_FILES = 500

Item = dict[str, str]
#: the attributes of a file that its project's row rests on
_KEPT = ("filename", "sort_key", "last_modified", "summary")


def dirty_mark(seconds_ago: float = 0.0) -> str:
    """The mark a reload writes now; with ``seconds_ago``, the mark it would have written then."""
    return micros(datetime.fromtimestamp(time.time() - seconds_ago, tz=timezone.utc))


class _Seen:
    """Hashes of filenames, 8 bytes each: sorted runs merged as they grow (membership while
    adding, by bisection in each run), one run once :meth:`sealed`."""

    def __init__(self) -> None:
        self._runs: list[array[int]] = []

    def add(self, values: Sequence[int]) -> None:
        self._runs.append(array("q", sorted(values)))
        while len(self._runs) > 1 and len(self._runs[-1]) * 2 >= len(self._runs[-2]):
            last = self._runs.pop()
            self._runs[-1] = array("q", heapq.merge(self._runs[-1], last))

    def __contains__(self, value: int) -> bool:
        for run in self._runs:
            i = bisect_left(run, value)
            if i < len(run) and run[i] == value:
                return True
        return False

    def sealed(self) -> _Seen:
        while len(self._runs) > 1:
            last = self._runs.pop()
            self._runs[-1] = array("q", heapq.merge(self._runs[-1], last))
        return self


class _Project:
    """What a project's final row rests on, kept as its files stream past: the best file, the
    newest, and the highest file of each summary (dropped once they are too many to be kept)."""

    __slots__ = ("best", "by_summary", "newest", "texts")

    def __init__(self) -> None:
        self.best: Item | None = None
        self.newest: Item | None = None
        self.by_summary: dict[str, Item] | None = {}
        self.texts = 0

    def add(self, item: Item) -> None:
        kept: Item = {k: item[k] for k in _KEPT if k in item}
        if self.best is None or comes_first(kept, self.best):
            self.best = kept
        if self.newest is None or (kept["last_modified"], kept["filename"]) > (
            self.newest["last_modified"],
            self.newest["filename"],
        ):
            self.newest = kept
        if self.by_summary is None:
            return
        text = kept.get("summary", "")
        if text not in self.by_summary:
            self.texts += len(text.encode())
            if self.texts > SUMMARIES_LIMIT:  # the row's summaries would be dropped anyway
                self.by_summary = None
                return
        if text not in self.by_summary or comes_first(kept, self.by_summary[text]):
            self.by_summary[text] = kept

    def holds(self, filename: str) -> bool:
        kept = [self.best, self.newest, *(self.by_summary or {}).values()]
        return any(i is not None and i["filename"] == filename for i in kept)

    def row(self, name: str) -> Item:
        """What ``row_for`` makes of every file of the project."""
        kept = {i["filename"]: i for i in (self.best, self.newest, *(self.by_summary or {}).values()) if i}
        row = row_for(name, kept.values())
        if self.by_summary is None:
            row.pop("summaries", None)
        return row


class _Spool:
    """Item lists pickled to a temporary file, read back in order."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.count = 0

    def add(self, items: list[Item]) -> None:
        if items:
            pickle.dump(items, self._file, pickle.HIGHEST_PROTOCOL)
            self.count += len(items)

    def __iter__(self) -> Iterator[list[Item]]:
        self._file.seek(0)
        while True:
            try:
                yield pickle.load(self._file)
            except EOFError:
                return

    def close(self) -> None:
        self._file.close()


class Reconciler:
    """Make the tables hold exactly what was :meth:`add`-ed (a filename added twice keeps the
    last), writing only what differs, in :meth:`finish`; :meth:`close` drops the spool."""

    def __init__(self, tables: Tables, repair_after: float) -> None:
        self.tables = tables
        self.repair_after = repair_after
        self.listed = _Seen()
        self.projects: dict[str, _Project] = {}
        self.unsure: set[str] = set()  # projects a repeated filename made: recomputed from the files
        self.puts = _Spool()
        self.marked: set[str] = set()
        self._marked_at = 0.0

    # -- while the listing streams ---------------------------------------------------------
    def add(self, batch: Sequence[Package]) -> None:
        items = {p.filename: package_item(p) for p in batch}  # last one wins
        current = self.tables.get_files(list(items))
        puts = []
        for filename, item in items.items():
            if hash(filename) in self.listed:  # listed in an earlier batch: its kept files may be stale
                self.unsure |= {n for n, p in self.projects.items() if p.holds(filename)} | {item["name"]}
                puts.append(item)
            elif current.get(filename) != item:
                puts.append(item)
            self.projects.setdefault(item["name"], _Project()).add(item)
        self.listed.add([hash(f) for f in items])
        self.puts.add(puts)

    # -- once it is complete ---------------------------------------------------------------
    def finish(self) -> None:
        """Write new and changed files, delete gone ones, then settle every row that differs."""
        tables = self.tables
        for items in self.puts:
            for start in range(0, len(items), CHUNK_FILES):
                chunk = list({i["filename"]: i for i in items[start : start + CHUNK_FILES]}.values())
                self._mark({i["name"] for i in chunk})
                tables.write(tables.packages, puts=chunk)
        self.listed.sealed()
        gone: list[Item] = []
        names = tables.scan(
            tables.packages, ProjectionExpression="#f, #n", ExpressionAttributeNames={"#f": "filename", "#n": "name"}
        )
        for item in names:
            if hash(item["filename"]) not in self.listed:
                gone.append(item)
                if len(gone) >= CHUNK_FILES:
                    self._delete(gone)
                    gone = []
        self._delete(gone)
        self._rows()

    def _delete(self, gone: list[Item]) -> None:
        if gone:
            self._mark({i["name"] for i in gone})
            self.tables.write(self.tables.packages, deletes=[{"filename": i["filename"]} for i in gone])

    def _rows(self) -> None:
        """Each row that differs from its project's files (or is marked) gets its final value."""
        tables = self.tables
        puts: list[Item] = []
        for row in tables.scan(tables.summaries):
            name = row["name"]
            if name == LOCK_NAME:
                continue
            project = self.projects.pop(name, None)
            if project is None:
                if "dirty" in row or "best_filename" in row:
                    settle(tables, name)  # no listed file: recomputed from the files, as a concurrent upload counts
                continue
            final = _full_row(tables, name) if name in self.unsure else project.row(name)
            if name in self.marked or not same_row(row, final):
                puts.append(final)
            if len(puts) >= 25:
                self._mark(set())
                tables.write(tables.summaries, puts=puts)
                puts = []
        puts += [_full_row(tables, n) if n in self.unsure else p.row(n) for n, p in self.projects.items()]
        self._mark(set())
        tables.write(tables.summaries, puts=puts)

    def _mark(self, names: set[str]) -> None:
        """Mark dirty the rows of ``names`` not yet marked, renewing older marks before they
        could count as left by a dead reload."""
        now = time.time()
        renew = bool(self.marked) and now - self._marked_at > self.repair_after / 3
        todo = sorted(names | self.marked) if renew else sorted(names - self.marked)
        if not todo:
            return
        if renew or not self.marked:
            self._marked_at = now  # the oldest mark standing is now's
        rows = self.tables.get_many(self.tables.summaries, "name", todo)
        mark = dirty_mark()
        self.tables.write(
            self.tables.summaries,
            puts=[{**rows.get(n, {"name": n}), "version": uuid.uuid4().hex, "dirty": mark} for n in todo],
        )
        self.marked.update(todo)

    def close(self) -> None:
        self.puts.close()
