"""The DynamoDB backend on boto3.

Two tables, created when missing (on-demand billing) and used as they are
when they exist with the right keys:

* packages (``DynamoPackage``): key ``filename``; global secondary index
  ``name-index`` on (``name``, ``sort_key``), so ``all(name)`` is a Query
  already in version order (DynamoDB sorts string range keys by their UTF-8
  bytes, the order of :attr:`pkgcache.Package.sort_key`);
* summaries (``PackageSummary``): key ``name``; one row per project (summary
  of the highest version, newest time, and which file is the best), read
  by ``distinct()`` and ``summary()`` so they never scan the packages.

A save merges its file into the summary row with a conditional write
(retried when another writer got there first); replacing a file or
clearing the best or newest one recomputes the row from the project's
files. Plain reload clears both tables by batch deletes (it never drops a
table the user configured) and writes in ``BatchWriteItem`` requests of 25,
retrying unprocessed items with exponential backoff. DynamoDB cannot switch
contents atomically, so readers may see a reload half done.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, EndpointConnectionError, ReadTimeoutError

from pkgcache import Cache, CacheUnavailable, Package, PkgcacheError, Storage, normalize_name

from .settings import DynamoSettings

__all__ = ["DynamoCache"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
INDEX = "name-index"
ITEM_LIMIT = 400 * 1024
LOCK_NAME = "~reload-lock"  # never a project name: normalized names have no "~"
_UNREACHABLE = (EndpointConnectionError, ConnectionError, ReadTimeoutError)


def _micros(value: datetime) -> str:
    return f"{(value - _EPOCH) // timedelta(microseconds=1):020d}"


def _time(micros: str) -> datetime:
    return _EPOCH + timedelta(microseconds=int(micros))


def _comes_first(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True when item ``a`` stands before ``b`` in ``all()`` order."""
    return bool(a["sort_key"] > b["sort_key"] or (a["sort_key"] == b["sort_key"] and a["filename"] < b["filename"]))


def _item(p: Package) -> dict[str, Any]:
    item = {
        "filename": p.filename,
        "name": p.name,
        "version": p.version,
        "sort_key": p.sort_key,
        "last_modified": _micros(p.last_modified),
        "data": p.data_json(),
    }
    if p.summary is not None:  # DynamoDB keeps no empty strings worth having
        item["summary"] = p.summary
    size = sum(len(k) + len(str(v).encode()) for k, v in item.items())
    if size > ITEM_LIMIT:
        raise PkgcacheError(
            f"package {p.filename!r} is {size:,} bytes, over DynamoDB's 400 KB item limit: shorten its summary or metadata"
        )
    return item


def _package(item: dict[str, Any]) -> Package:
    return Package.restore(
        item["name"],
        item["version"],
        item["filename"],
        _time(item["last_modified"]),
        item.get("summary"),
        json.loads(item["data"]),
        item["sort_key"],
    )


def _summary_row(name: str, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    best = items[0]
    for item in items[1:]:
        if _comes_first(item, best):
            best = item
    row = {
        "name": name,
        "last_modified": max(i["last_modified"] for i in items),
        "best_key": best["sort_key"],
        "best_filename": best["filename"],
        "version": uuid.uuid4().hex,
    }
    if best.get("summary") is not None:
        row["summary"] = best["summary"]
    return row


class DynamoCache(Cache):
    """``pypi.db = dynamo``."""

    Settings = DynamoSettings
    settings: DynamoSettings

    def __init__(self, settings: DynamoSettings, storage: Storage, **kwargs: Any) -> None:  # type: ignore[override]
        super().__init__(settings, storage, **kwargs)
        self._address = settings.endpoint_url or f"DynamoDB {settings.region}"
        self._resource: Any = None
        self.package_table_name, self.summary_table_name = settings.table_names

    def __repr__(self) -> str:
        return f"DynamoCache({self._address!r}, tables={self.settings.table_names!r})"

    # -- connection, tables, errors ----------------------------------------------
    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except _UNREACHABLE as err:
            raise CacheUnavailable(f"dynamo backend cannot reach {self._address}: {type(err).__name__}") from err

    @property
    def resource(self) -> Any:
        if self._resource is None:
            s = self.settings
            session = boto3.session.Session(
                aws_access_key_id=s.access_key,
                aws_secret_access_key=s.secret_key.get_secret_value() if s.secret_key else None,
                region_name=s.region or "us-east-1",
            )
            config = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
            resource = session.resource("dynamodb", endpoint_url=s.endpoint_url, config=config)
            with self._errors():
                self.packages = self._ensure_table(resource, self.package_table_name, "filename", with_index=True)
                self.summaries = self._ensure_table(resource, self.summary_table_name, "name", with_index=False)
            self._resource = resource
        return self._resource

    def _ensure_table(self, resource: Any, name: str, key: str, with_index: bool) -> Any:
        """The table, created (on-demand) when missing; several processes may race to create it."""
        client = resource.meta.client
        try:
            description = client.describe_table(TableName=name)["Table"]
        except client.exceptions.ResourceNotFoundException:
            attributes = [{"AttributeName": key, "AttributeType": "S"}]
            options: dict[str, Any] = {}
            if with_index:
                attributes += [
                    {"AttributeName": "name", "AttributeType": "S"},
                    {"AttributeName": "sort_key", "AttributeType": "S"},
                ]
                options["GlobalSecondaryIndexes"] = [
                    {
                        "IndexName": INDEX,
                        "KeySchema": [
                            {"AttributeName": "name", "KeyType": "HASH"},
                            {"AttributeName": "sort_key", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ]
            # another process may be creating it too: then wait with everyone else
            with contextlib.suppress(client.exceptions.ResourceInUseException):
                client.create_table(
                    TableName=name,
                    KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                    AttributeDefinitions=attributes,
                    BillingMode="PAY_PER_REQUEST",
                    **options,
                )
            client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
            description = client.describe_table(TableName=name)["Table"]
        self._check_schema(description, key, with_index)
        return resource.Table(name)

    @staticmethod
    def _check_schema(description: dict[str, Any], key: str, with_index: bool) -> None:
        name = description["TableName"]
        keys = [(k["AttributeName"], k["KeyType"]) for k in description["KeySchema"]]
        if keys != [(key, "HASH")]:
            raise PkgcacheError(
                f"DynamoDB table {name!r} exists with key {keys}, but pkgcache needs its only key to be {key!r} (HASH): "
                "choose other db.tablenames or db.namespace, or delete the table"
            )
        if with_index:
            indexes = {i["IndexName"]: i for i in description.get("GlobalSecondaryIndexes", [])}
            index = indexes.get(INDEX)
            found = [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]] if index else None
            if found != [("name", "HASH"), ("sort_key", "RANGE")]:
                raise PkgcacheError(
                    f"DynamoDB table {name!r} lacks the global secondary index {INDEX!r} on (name, sort_key) that "
                    "all(name) needs: choose other db.tablenames or db.namespace, or delete the table"
                )

    # -- paginated reads -------------------------------------------------------
    def _pages(self, call: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = call(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _project_items(self, name: str) -> list[dict[str, Any]]:
        _ = self.resource
        return list(
            self._pages(
                self.packages.query,
                IndexName=INDEX,
                KeyConditionExpression=Key("name").eq(name),
                ScanIndexForward=False,
            )
        )

    def fetch(self, filename: str) -> Package | None:
        with self._errors():
            _ = self.resource
            item = self.packages.get_item(Key={"filename": filename}, ConsistentRead=True).get("Item")
        return _package(item) if item else None

    def all(self, name: str) -> list[Package]:
        with self._errors():
            items = self._project_items(normalize_name(name))
        items.sort(key=lambda i: i["filename"])
        items.sort(key=lambda i: i["sort_key"], reverse=True)  # already in key order; this settles ties
        return [_package(i) for i in items]

    def _summary_rows(self) -> list[dict[str, Any]]:
        with self._errors():
            _ = self.resource
            rows = [r for r in self._pages(self.summaries.scan, ConsistentRead=True) if r["name"] != LOCK_NAME]
        return sorted(rows, key=lambda r: r["name"])

    def distinct(self) -> list[str]:
        return [r["name"] for r in self._summary_rows()]

    def summary(self) -> list[dict[str, Any]]:
        return [
            {"name": r["name"], "summary": r.get("summary"), "last_modified": _time(r["last_modified"])}
            for r in self._summary_rows()
        ]

    def _iter_packages(self) -> Iterator[Package]:
        with self._errors():
            _ = self.resource
            items = list(self._pages(self.packages.scan, ConsistentRead=True))
        return (_package(i) for i in items)

    def _is_empty(self) -> bool:
        """One small page, not a scan of every project: the first row that is not the lock answers."""
        with self._errors():
            _ = self.resource
            names = self._pages(
                self.summaries.scan,
                Limit=2,
                ProjectionExpression="#n",
                ExpressionAttributeNames={"#n": "name"},
                ConsistentRead=True,
            )
            return all(row["name"] == LOCK_NAME for row in names)

    # -- writes ----------------------------------------------------------------
    def _batch_write(self, table_name: str, requests: list[dict[str, Any]]) -> None:
        """BatchWriteItem, 25 a request, resending unprocessed items with exponential backoff."""
        for start in range(0, len(requests), 25):
            pending = {table_name: requests[start : start + 25]}
            delay = 0.05
            while pending:
                answer = self.resource.batch_write_item(RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}
                if pending:
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)

    def _refresh(self, name: str) -> None:
        """Recompute a project's summary row from its files."""
        items = self._project_items(name)
        if items:
            self.summaries.put_item(Item=_summary_row(name, items))
        else:
            self.summaries.delete_item(Key={"name": name})

    def _merge(self, name: str, new: list[dict[str, Any]]) -> None:
        """Fold new files into a project's row with a conditional write; retry on a race."""
        while True:
            current = self.summaries.get_item(Key={"name": name}, ConsistentRead=True).get("Item")
            base = []
            if current:  # the row stands for its best file and its newest time
                best = {"sort_key": current["best_key"], "filename": current["best_filename"]}
                best["last_modified"] = current["last_modified"]
                if "summary" in current:
                    best["summary"] = current["summary"]
                base.append(best)
            row = _summary_row(name, base + new)
            condition = Attr("version").eq(current["version"]) if current else Attr("name").not_exists()
            try:
                self.summaries.put_item(Item=row, ConditionExpression=condition)
                return
            except ClientError as err:
                if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

    def _save_many(self, packages: Sequence[Package]) -> None:
        if not packages:
            return
        items = {p.filename: _item(p) for p in packages}  # last one wins, as saved in turn
        with self._errors():
            _ = self.resource
            old: dict[str, dict[str, Any]] = {}
            filenames = list(items)
            for start in range(0, len(filenames), 100):
                keys = [{"filename": f} for f in filenames[start : start + 100]]
                request: dict[str, Any] = {self.package_table_name: {"Keys": keys, "ConsistentRead": True}}
                while request:
                    answer = self.resource.batch_get_item(RequestItems=request)
                    for item in answer["Responses"].get(self.package_table_name, []):
                        old[item["filename"]] = item
                    request = answer.get("UnprocessedKeys") or {}
            self._batch_write(self.package_table_name, [{"PutRequest": {"Item": i}} for i in items.values()])
            # a replaced or moved file may lower its old and new project's rows: recompute those;
            # projects that only gained files take a cheap conditional merge
            refresh = {o["name"] for o in old.values()} | {items[f]["name"] for f in old}
            fresh: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for item in items.values():
                if item["name"] not in refresh:
                    fresh[item["name"]].append(item)
            for name in refresh:
                self._refresh(name)
            for name, new in fresh.items():
                self._merge(name, new)

    def _clear(self, package: Package) -> None:
        with self._errors():
            _ = self.resource
            old = self.packages.delete_item(Key={"filename": package.filename}, ReturnValues="ALL_OLD").get(
                "Attributes"
            )
            if old is None:
                return
            row = self.summaries.get_item(Key={"name": old["name"]}, ConsistentRead=True).get("Item")
            if row is None or row["best_filename"] == old["filename"] or row["last_modified"] == old["last_modified"]:
                self._refresh(old["name"])

    def _clear_all(self) -> None:
        with self._errors():
            _ = self.resource
            for table, key in ((self.packages, "filename"), (self.summaries, "name")):
                keys = [
                    {key: i[key]}
                    for i in self._pages(table.scan, ProjectionExpression="#k", ExpressionAttributeNames={"#k": key})
                    if i[key] != LOCK_NAME
                ]
                self._batch_write(table.name, [{"DeleteRequest": {"Key": k}} for k in keys])

    def _replace_all(self, packages: Sequence[Package]) -> None:
        """Batch deletes, then batch writes: the tables themselves are never dropped."""
        items = {p.filename: _item(p) for p in packages}
        by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in items.values():
            by_name[item["name"]].append(item)
        self._clear_all()
        with self._errors():
            self._batch_write(self.package_table_name, [{"PutRequest": {"Item": i}} for i in items.values()])
            rows = [_summary_row(n, group) for n, group in by_name.items()]
            self._batch_write(self.summary_table_name, [{"PutRequest": {"Item": r}} for r in rows])

    # -- lock, health, lifetime ------------------------------------------------
    @contextmanager
    def _reload_lock(self, timeout: float) -> Iterator[bool]:
        token = uuid.uuid4().hex
        deadline = time.monotonic() + timeout
        held = False
        with self._errors():
            _ = self.resource
            while not held:
                now = time.time()
                try:
                    self.summaries.put_item(
                        Item={"name": LOCK_NAME, "token": token, "expires": str(int(now + timeout))},
                        ConditionExpression=Attr("name").not_exists() | Attr("expires").lt(str(int(now))),
                    )
                    held = True
                except ClientError as err:
                    if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
        try:
            yield held
        finally:
            if held:
                with self._errors():
                    try:
                        self.summaries.delete_item(Key={"name": LOCK_NAME}, ConditionExpression=Attr("token").eq(token))
                    except ClientError as err:
                        if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                            raise

    def _check_health(self) -> tuple[bool, str]:
        try:
            with self._errors():
                _ = self.resource
                self.resource.meta.client.describe_table(TableName=self.package_table_name)
        except CacheUnavailable as err:
            return False, str(err)
        except (BotoCoreError, ClientError) as err:
            return False, f"dynamo backend at {self._address}: {err}"
        return True, f"dynamo backend at {self._address}: tables {self.settings.table_names} ready"
