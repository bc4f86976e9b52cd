"""Keeping a project's summary row right while several writers change its files.

Every write changes files first, then *settles* the project's row:

1. read the row, strongly consistent, with its ``version`` attribute;
2. compute the new row, from the files read *after* step 1:
   cheaply when the row's best and newest files and the writer's own best
   and newest files, read strongly consistent (BatchGetItem), are all still
   what the row and the writer say: the new row is the rule over those;
   otherwise from the project's files in the name index, where every file
   the result rests on (best and newest) is re-read strongly consistent,
   and the index answer corrected, until both are confirmed;
3. write it conditionally on the ``version`` of step 1 (a tombstone when the
   project has no files left, so that "absent" is never a version a stale
   writer could match); if another writer got there first, start again
   (bounded, backoff with jitter, ``CacheBusy`` at the end).

Why this is right under any interleaving: the row writes of all writers
form one chain of versions, each computed from files read after the row it
replaces, and every file change is followed by its writer's settle, so the
last row written was computed after the last file change, from reads that
saw it. The one thing not strongly consistent is the name index (DynamoDB
offers no consistent read of a GSI, and the package table is keyed by
filename, so the base table cannot be queried by project): a file another
writer added within the index's lag (typically well under a second) that
was neither best nor newest, when this writer removes the best and that file
becomes the best, can be missed until the next write to the project.
Files the row rests on, and the writer's own files, are always read from
the base table, consistently. On moto the index is synchronous.

Why not TransactWriteItems (files and row in one transaction): moto, which
the tests run against, implements a transaction by snapshotting whole tables
and restoring the snapshot on a failed condition, which discards other
clients' concurrent writes; conditional writes behave the same on moto and
DynamoDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from pkgcache import CacheBusy

from ._errors import backoff, code_of
from ._items import merged_summaries, row_for, summaries_of, wire, with_summaries
from ._tables import Tables

__all__ = ["MAX_ATTEMPTS", "settle"]

#: conditional row writes tried before CacheBusy
MAX_ATTEMPTS = 16


def _matches(found: dict[str, str] | None, name: str, expected: dict[str, str], fields: Sequence[str]) -> bool:
    return found is not None and found["name"] == name and all(found.get(f) == expected.get(f) for f in fields)


def _cheap_row(
    tables: Tables, name: str, row: dict[str, str] | None, own: Sequence[dict[str, str]]
) -> dict[str, str] | None:
    """The new row from the row and the writer's own files, or None when a full recompute is needed."""
    if row is None or "dirty" in row or "newest_filename" not in row:
        return None  # no row, a tombstone, a row a reload or an old version left: recompute
    mine = row_for(name, own) if own else {}
    wanted = {row["best_filename"], row["newest_filename"], mine.get("best_filename"), mine.get("newest_filename")}
    found = tables.get_files(sorted(f for f in wanted if f))
    by_file = {i["filename"]: i for i in own}
    if not _matches(
        found.get(row["best_filename"]), name, {"sort_key": row["best_key"], **row}, ("sort_key", "summary")
    ):
        return None
    if not _matches(found.get(row["newest_filename"]), name, row, ("last_modified",)):
        return None
    for key in ("best_filename", "newest_filename"):
        if key in mine and not _matches(
            found.get(mine[key]), name, by_file[mine[key]], ("sort_key", "last_modified", "summary")
        ):
            return None  # another writer replaced our file meanwhile
    new = row_for(name, found.values())
    known = summaries_of(row)
    if known is None:
        new.pop("summaries", None)  # still unknown: only a full recompute learns them
    else:
        with_summaries(new, merged_summaries(known, own))
    return new


def _full_row(tables: Tables, name: str) -> dict[str, str]:
    """The new row from the name index, with its best and newest files confirmed by consistent reads."""
    indexed = {i["filename"]: i for i in tables.project_files(name)}
    known: dict[str, dict[str, str] | None] = {}
    while True:
        current = {f: i for f, i in indexed.items() if f not in known}
        current.update({f: i for f, i in known.items() if i is not None and i["name"] == name})
        row = row_for(name, current.values())
        unconfirmed = [row[k] for k in ("best_filename", "newest_filename") if k in row and row[k] not in known]
        if not unconfirmed:
            return row
        fresh = tables.get_files(unconfirmed)
        known.update({f: fresh.get(f) for f in unconfirmed})


def settle(tables: Tables, name: str, own: Sequence[dict[str, str]] = (), live_since: str = "~") -> None:
    """Bring project ``name``'s row up to date after this writer changed its files (``own``: those it wrote).

    A ``dirty`` mark made at or after ``live_since`` belongs to a reload that may still be changing the
    project's files: it stays, so that if that reload dies the row is still repaired (``_reconcile``).
    """
    for attempt in range(MAX_ATTEMPTS):
        row = tables.get(tables.summaries, "name", name)
        new = _cheap_row(tables, name, row, own) or _full_row(tables, name)
        if row is not None and row.get("dirty", "") >= live_since:
            new["dirty"] = row["dirty"]
        request: dict[str, Any] = {"TableName": tables.summaries, "Item": wire(new)}
        if row is None:
            request.update(ConditionExpression="attribute_not_exists(#n)", ExpressionAttributeNames={"#n": "name"})
        else:
            request.update(
                ConditionExpression="#v = :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":v": {"S": row["version"]}},
            )
        try:
            tables.client.put_item(**request)
            return
        except ClientError as err:
            if code_of(err) != "ConditionalCheckFailedException":
                raise
        backoff(attempt)
    raise CacheBusy(
        f"the summary row of project {name!r} in {tables.summaries!r} kept changing under other writers; "
        f"gave up after {MAX_ATTEMPTS} tries: try again"
    )
