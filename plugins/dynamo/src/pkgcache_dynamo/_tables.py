"""The two tables on the low-level client: creation, schema check, paged and batched requests.

Only the boto3 *client* is used: it is thread-safe, so one cache instance
can serve every thread of a web server; boto3 resources are not.

Every retry loop here is bounded, backs off exponentially with jitter, and
ends in ``CacheBusy`` when DynamoDB keeps handing work back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pkgcache import CacheBusy, CacheError

from ._errors import backoff
from ._items import plain, wire

__all__ = ["INDEX", "MAX_ROUNDS", "Tables", "ensure_table"]

INDEX = "name-index"
#: rounds of resending what DynamoDB left unprocessed before giving up with CacheBusy
MAX_ROUNDS = 10


def ensure_table(client: Any, name: str, key: str, with_index: bool) -> None:
    """Create the table (on demand) when missing; several processes may race to create it."""
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
    _check_schema(description, key, with_index)


def _check_schema(description: dict[str, Any], key: str, with_index: bool) -> None:
    name = description["TableName"]
    keys = [(k["AttributeName"], k["KeyType"]) for k in description["KeySchema"]]
    if keys != [(key, "HASH")]:
        raise CacheError(
            f"DynamoDB table {name!r} exists with key {keys}, but pkgcache needs its only key to be {key!r} (HASH): "
            "choose other db.tablenames or db.namespace, or delete the table"
        )
    if with_index:
        indexes = {i["IndexName"]: i for i in description.get("GlobalSecondaryIndexes", [])}
        index = indexes.get(INDEX)
        found = [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]] if index else None
        if found != [("name", "HASH"), ("sort_key", "RANGE")]:
            raise CacheError(
                f"DynamoDB table {name!r} lacks the global secondary index {INDEX!r} on (name, sort_key) that "
                "all(name) needs: choose other db.tablenames or db.namespace, or delete the table"
            )


@dataclass(frozen=True)
class Tables:
    """A client and the two table names: the requests every part of the backend makes."""

    client: Any
    packages: str
    summaries: str

    def get(self, table: str, key: str, value: str) -> dict[str, str] | None:
        raw = self.client.get_item(TableName=table, Key={key: {"S": value}}, ConsistentRead=True).get("Item")
        return plain(raw) if raw else None

    def scan(self, table: str, **kwargs: Any) -> Iterator[dict[str, str]]:
        """Every item, strongly consistent, page by page."""
        kwargs = {"TableName": table, "ConsistentRead": True, **kwargs}
        while True:
            page = self.client.scan(**kwargs)
            yield from (plain(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def project_files(self, name: str) -> list[dict[str, str]]:
        """A project's files from the index, highest sort key first.

        The index is eventually consistent: a file written a moment ago may
        be missing and one deleted a moment ago may still show. ``all()``
        accepts that; the summary rows do not rely on it alone (``_rows``).
        """
        kwargs: dict[str, Any] = {
            "TableName": self.packages,
            "IndexName": INDEX,
            "KeyConditionExpression": "#n = :n",
            "ExpressionAttributeNames": {"#n": "name"},
            "ExpressionAttributeValues": {":n": {"S": name}},
            "ScanIndexForward": False,
        }
        items: list[dict[str, str]] = []
        while True:
            page = self.client.query(**kwargs)
            items += [plain(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get_files(self, filenames: list[str]) -> dict[str, dict[str, str]]:
        """Files by name, read strongly consistent (BatchGetItem, 100 a request)."""
        return self.get_many(self.packages, "filename", filenames)

    def get_many(self, table: str, key: str, values: Sequence[str]) -> dict[str, dict[str, str]]:
        """Items of ``table`` by their ``key``, read strongly consistent (BatchGetItem, 100 a request)."""
        found: dict[str, dict[str, str]] = {}
        values = list(dict.fromkeys(values))  # a key twice in one request is an error
        for start in range(0, len(values), 100):
            keys = [{key: {"S": v}} for v in values[start : start + 100]]
            request = {table: {"Keys": keys, "ConsistentRead": True}}
            for answer in self._resend(self.client.batch_get_item, request, "UnprocessedKeys", f"keys of {table!r}"):
                for raw in answer["Responses"].get(table, []):
                    item = plain(raw)
                    found[item[key]] = item
        return found

    def write(self, table: str, puts: Sequence[dict[str, str]] = (), deletes: Sequence[dict[str, str]] = ()) -> None:
        """BatchWriteItem, 25 a request, resending unprocessed items (bounded, with backoff)."""
        requests = [{"PutRequest": {"Item": wire(i)}} for i in puts]
        requests += [{"DeleteRequest": {"Key": wire(k)}} for k in deletes]
        for start in range(0, len(requests), 25):
            for _ in self._resend(
                self.client.batch_write_item,
                {table: requests[start : start + 25]},
                "UnprocessedItems",
                f"writes to {table!r}",
            ):
                pass

    @staticmethod
    def _resend(send: Any, request: dict[str, Any], leftover: str, what: str) -> Iterator[dict[str, Any]]:
        """Send ``request``, then whatever DynamoDB hands back under ``leftover``, until nothing is;
        each answer is yielded. Bounded, with backoff and jitter; ``CacheBusy`` at the end."""
        for attempt in range(MAX_ROUNDS + 1):
            answer: dict[str, Any] = send(RequestItems=request)
            yield answer
            request = answer.get(leftover) or {}
            if not request:
                return
            if attempt == MAX_ROUNDS:
                raise CacheBusy(f"DynamoDB left {what} unprocessed {MAX_ROUNDS} times: try again later")
            backoff(attempt, base=0.05, cap=5.0)
