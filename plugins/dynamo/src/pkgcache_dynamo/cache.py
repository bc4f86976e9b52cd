"""The DynamoDB backend on boto3.

Two tables, created when missing (on-demand billing) and used as they are
when they exist with the right keys:

* packages (``DynamoPackage``): key ``filename``; global secondary index
  ``name-index`` on (``name``, ``sort_key``), so ``all(name)`` is a Query
  already in version order (DynamoDB sorts string range keys by their UTF-8
  bytes, the order of :attr:`pkgcache.Package.sort_key`);
* summaries (``PackageSummary``): key ``name``; one row per project (summary
  of the highest version, newest time, which files are the best and the
  newest), read by ``distinct()`` and ``summary()`` so they never scan the
  packages. The same table holds the reload lease (``~reload-lock``) and
  tombstones of emptied projects; readers skip both.

Writes change files, then settle the project's row with a conditional
write (``_rows``); plain reload reconciles in place, streamed (``_reconcile``);
each file keeps the storage's change token, so a graceful reload reads only what moved; the
reload lock is a lease (:func:`pkgcache.plugin.hold_lease`) on a conditional write.
One instance is safe to share between threads: it uses only the
thread-safe boto3 client, created once under a lock.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from pkgcache import Cache, Package, Storage, normalize_name
from pkgcache.plugin import BATCH, LEASE_TTL, LeaseOps, hold_lease, matches, search_packages

from ._errors import classified, code_of
from ._items import LOCK_NAME, comes_first, is_project_row, package, package_item, summaries_of, to_time
from ._reconcile import Reconciler, dirty_mark
from ._rows import settle
from ._tables import Tables, ensure_table
from .settings import DynamoSettings

__all__ = ["DynamoCache"]


class DynamoCache(Cache):
    """``pypi.db = dynamo``."""

    Settings = DynamoSettings
    stores_tokens = True
    #: in the kit's sense: a plain reload reconciles in place (writes what changed, deletes
    #: what is gone), so readers never see an empty cache; during it a reader may see some
    #: projects already new and others still old, never nothing
    atomic_reload = True
    settings: DynamoSettings

    #: seconds the reload lease lives without renewal: the longest a dead holder blocks others
    lease_ttl: ClassVar[float] = LEASE_TTL
    #: seconds after which a row a reload marked dirty counts as left by a dead reload and is repaired on
    #: read (a live reload finishes a chunk of projects in far less)
    repair_after: ClassVar[float] = 60.0

    def __init__(self, settings: DynamoSettings, storage: Storage, **kwargs: Any) -> None:  # type: ignore[override]
        super().__init__(settings, storage, **kwargs)
        self._address = settings.endpoint_url or f"DynamoDB {settings.region}"
        self._secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        self._client: Any = None
        self._tables: Tables | None = None
        self._client_lock = threading.Lock()
        self.package_table_name, self.summary_table_name = settings.table_names

    def __repr__(self) -> str:
        return f"DynamoCache({self._address!r}, tables={self.settings.table_names!r})"

    # -- connection and errors ---------------------------------------------------
    def _errors(self) -> AbstractContextManager[None]:
        return classified(self._address, self._secret)

    @property
    def tables(self) -> Tables:
        """The client and table names, made (and the tables created) once, whichever thread comes first."""
        with self._client_lock:
            if self._tables is None:
                s = self.settings
                session = boto3.session.Session(
                    aws_access_key_id=s.access_key,
                    aws_secret_access_key=self._secret,
                    region_name=s.region or "us-east-1",
                )
                config = Config(
                    connect_timeout=3,
                    read_timeout=10,
                    retries={"max_attempts": 3, "mode": "standard"},
                    max_pool_connections=32,
                )
                client = session.client("dynamodb", endpoint_url=s.endpoint_url, config=config)
                with self._errors():
                    ensure_table(client, self.package_table_name, "filename", with_index=True)
                    ensure_table(client, self.summary_table_name, "name", with_index=False)
                self._client = client
                self._tables = Tables(client, self.package_table_name, self.summary_table_name)
            return self._tables

    @property
    def client(self) -> Any:
        """The boto3 DynamoDB client (thread-safe)."""
        return self.tables.client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
            self._client, self._tables = None, None
        super().close()

    # -- reads -----------------------------------------------------------------
    def fetch(self, filename: str) -> Package | None:
        with self._errors():
            tables = self.tables
            item = tables.get(tables.packages, "filename", filename)
        return package(item) if item else None

    def all(self, name: str) -> list[Package]:
        with self._errors():
            items = self.tables.project_files(normalize_name(name))
        items.sort(key=lambda i: i["filename"])
        items.sort(key=lambda i: i["sort_key"], reverse=True)  # already in key order; this settles ties
        return [package(i) for i in items]

    def _summary_rows(self) -> list[dict[str, str]]:
        """The project rows; a row a dead reload left dirty is recomputed first (read-path repair)."""
        with self._errors():
            tables = self.tables
            rows = []
            stale = dirty_mark(self.repair_after)
            for row in tables.scan(tables.summaries):
                if "dirty" in row and row["name"] != LOCK_NAME and row["dirty"] <= stale:
                    settle(tables, row["name"])
                    row = tables.get(tables.summaries, "name", row["name"]) or row
                if is_project_row(row):
                    rows.append(row)
        return sorted(rows, key=lambda r: r["name"])

    def project_token(self, name: str) -> str | None:
        """The project row's ``version``: every settle and every reload that changes the
        project's files writes the row with a new one (``_rows``, ``_reconcile``). One
        consistent GetItem of two attributes; None for no row or a tombstone."""
        with self._errors():
            tables = self.tables
            raw = tables.client.get_item(
                TableName=tables.summaries,
                Key={"name": {"S": normalize_name(name)}},
                ConsistentRead=True,
                ProjectionExpression="#v, best_filename",
                ExpressionAttributeNames={"#v": "version"},
            ).get("Item")
        if not raw or "best_filename" not in raw:
            return None
        return str(raw["version"]["S"])

    def distinct(self) -> list[str]:
        return [r["name"] for r in self._summary_rows()]

    def summary(self) -> list[dict[str, Any]]:
        return [
            {"name": r["name"], "summary": r.get("summary"), "last_modified": to_time(r["last_modified"])}
            for r in self._summary_rows()
        ]

    def _search(self, terms: dict[str, list[str]], query_type: str) -> list[Package]:
        """Reads the summary rows, not every file: a row names, for each summary of its project's
        files, the highest file that has it, so the highest matching file is known from the row.
        Each file so picked is read (in batches) and confirmed; where it is not (the row lags a
        writer, or does not know its summaries), the project's files are read instead."""
        picks = {r["name"]: pick_match(r, terms, query_type) for r in self._summary_rows()}
        with self._errors():
            files = self.tables.get_files([p[1] for p in picks.values() if p])
        found: list[Package] = []
        for name, pick in picks.items():
            if pick == ():
                continue  # nothing of this project can match
            item = files.get(pick[1]) if pick else None
            if (
                pick
                and item is not None
                and (item["name"], item["sort_key"]) == (name, pick[0])
                and matches(package(item), terms, query_type)
            ):
                found.append(package(item))
                continue
            found += search_packages(self.all(name), terms, query_type)
        return found

    def _iter_packages(self) -> Iterator[Package]:
        with self._errors():
            tables = self.tables
            for item in tables.scan(tables.packages):
                yield package(item)

    def _iter_tokens(self) -> Iterator[tuple[str, str | None]]:
        """One Scan that reads only filenames and tokens."""
        with self._errors():
            tables = self.tables
            names = {"#f": "filename", "#t": "token"}  # TOKEN is a reserved word
            for item in tables.scan(tables.packages, ProjectionExpression="#f, #t", ExpressionAttributeNames=names):
                yield item["filename"], item.get("token")

    def _fetch_many(self, filenames: Sequence[str]) -> dict[str, Package]:
        with self._errors():
            items = self.tables.get_files(list(filenames))
        return {f: package(i) for f, i in items.items()}

    def _is_empty(self) -> bool:
        """Small pages until the first project row: no scan of every project when there is one."""
        with self._errors():
            tables = self.tables
            rows = tables.scan(tables.summaries, Limit=10, FilterExpression="attribute_exists(best_filename)")
            return next(iter(rows), None) is None

    # -- writes ----------------------------------------------------------------
    def _save_many(self, packages: Sequence[Package]) -> None:
        if not packages:
            return
        items = {p.filename: package_item(p) for p in packages}  # last one wins, as saved in turn
        with self._errors():
            tables = self.tables
            if len(items) == 1:  # one request tells what it replaced
                (item,) = items.values()
                old_raw = tables.client.put_item(
                    TableName=tables.packages, Item={k: {"S": v} for k, v in item.items()}, ReturnValues="ALL_OLD"
                ).get("Attributes")
                moved_from = {old_raw["name"]["S"]} if old_raw else set()
            else:
                # a file moved to another project leaves its old project to settle too; a move that
                # races with another writer's move of the same file is not covered (filenames name
                # their project, so moves are rare)
                old = tables.get_files(list(items))
                tables.write(tables.packages, puts=list(items.values()))
                moved_from = {o["name"] for f, o in old.items() if o["name"] != items[f]["name"]}
            by_name: dict[str, list[dict[str, str]]] = defaultdict(list)
            for item in items.values():
                by_name[item["name"]].append(item)
            live = dirty_mark(self.repair_after)
            for name, own in by_name.items():
                settle(tables, name, own, live)
            for name in moved_from - set(by_name):
                settle(tables, name, (), live)

    def _clear(self, package: Package) -> None:
        with self._errors():
            tables = self.tables
            old = tables.client.delete_item(
                TableName=tables.packages, Key={"filename": {"S": package.filename}}, ReturnValues="ALL_OLD"
            ).get("Attributes")
            if old is not None:
                settle(tables, old["name"]["S"], (), dirty_mark(self.repair_after))

    def _clear_all(self) -> None:
        with self._errors():
            tables = self.tables
            for table, key in ((tables.packages, "filename"), (tables.summaries, "name")):
                keys = [
                    {key: i[key]}
                    for i in tables.scan(table, ProjectionExpression="#k", ExpressionAttributeNames={"#k": key})
                    if i[key] != LOCK_NAME
                ]
                tables.write(table, deletes=keys)

    def _replace_all(self, packages: Sequence[Package]) -> None:
        with self._replacing() as add:
            for start in range(0, len(packages), BATCH):
                add(packages[start : start + BATCH])

    @contextmanager
    def _replacing(self) -> Iterator[Callable[[Sequence[Package]], None]]:
        """Reconcile (``_reconcile``): batches are compared as they come and what differs is
        spooled; on exit it is written, what is gone deleted, rows settled. Readers never see
        the cache empty, a kill leaves no row wrong for long, an exception writes nothing."""
        with self._errors():
            reconciler = Reconciler(self.tables, self.repair_after)
        try:

            def add(batch: Sequence[Package]) -> None:
                with self._errors():
                    reconciler.add(batch)

            yield add
            with self._errors():
                reconciler.finish()
        finally:
            reconciler.close()

    # -- the reload lease ----------------------------------------------------------
    def _lease_ops(self) -> LeaseOps:
        tables = self.tables
        key = {"name": {"S": LOCK_NAME}}

        def conditional(call: Any, **kwargs: Any) -> bool:
            with self._errors():
                try:
                    call(TableName=tables.summaries, **kwargs)
                except ClientError as err:
                    if code_of(err) == "ConditionalCheckFailedException":
                        return False
                    raise
            return True

        def acquire(owner: str, ttl: float) -> bool:
            now = time.time()
            return conditional(
                tables.client.put_item,
                Item={**key, "owner": {"S": owner}, "expires": {"N": f"{now + ttl:.3f}"}},
                ConditionExpression="attribute_not_exists(#n) OR expires < :now",
                ExpressionAttributeNames={"#n": "name"},
                ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}},
            )

        def renew(owner: str, ttl: float) -> bool:
            return conditional(
                tables.client.update_item,
                Key=key,
                UpdateExpression="SET expires = :e",
                ConditionExpression="#o = :o",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":o": {"S": owner}, ":e": {"N": f"{time.time() + ttl:.3f}"}},
            )

        def release(owner: str) -> None:
            conditional(
                tables.client.delete_item,
                Key=key,
                ConditionExpression="#o = :o",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":o": {"S": owner}},
            )

        return LeaseOps(acquire, renew, release)

    @contextmanager
    def _reload_lock(self, timeout: float) -> Iterator[bool]:
        """A lease (conditional write with an expiry) renewed while this process lives: a killed holder
        is taken over within ``lease_ttl`` seconds; a living one, however long it reloads, never."""
        with self._errors():
            ops = self._lease_ops()
        with hold_lease(ops, timeout, self.lease_ttl) as held:
            yield held

    def _check_health(self) -> tuple[bool, str]:
        with self._errors():
            tables = self.tables
            tables.client.describe_table(TableName=tables.packages)
        return True, f"dynamo backend at {self._address}: tables {self.settings.table_names} ready"


def pick_match(row: dict[str, str], terms: dict[str, list[str]], query_type: str) -> tuple[str, ...] | None:
    """(sort key, filename) of the highest file of the row's project that matches, by the row;
    ``()`` when none can; None when the row does not know its summaries."""
    entries = summaries_of(row)
    if entries is None:
        return None
    name = row["name"].casefold()
    names = [t in name for t in terms["name"]]
    if query_type == "or" and any(names):
        return (row["best_key"], row["best_filename"])  # every file matches by name
    if query_type == "and" and not all(names):
        return ()
    test = all if query_type == "and" else any
    hits = [entry for text, entry in entries.items() if test(t in text.casefold() for t in terms["summary"])]
    if not hits:
        return ()
    first = hits[0]
    for entry in hits[1:]:
        if comes_first({"sort_key": entry[0], "filename": entry[1]}, {"sort_key": first[0], "filename": first[1]}):
            first = entry
    return first
