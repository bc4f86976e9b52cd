"""Packages as DynamoDB items, and the summary row a project's files make.

Items travel as plain ``{attribute: str}`` dicts inside this package and
as the low-level client's typed form (``{"S": ...}``) on the wire: the
boto3 *resource* layer that converts for us is not thread-safe, the client
is, so we convert ourselves (every attribute is a string).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from pkgcache import CacheError, Package

__all__ = [
    "ITEM_LIMIT",
    "LOCK_NAME",
    "comes_first",
    "is_project_row",
    "merged_summaries",
    "micros",
    "package",
    "package_item",
    "plain",
    "row_for",
    "same_row",
    "summaries_of",
    "to_time",
    "wire",
    "with_summaries",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ITEM_LIMIT = 400 * 1024
LOCK_NAME = "~reload-lock"  # never a project name: normalized names have no "~"
#: the attributes of a summary row that follow from the files (not ``version`` or ``dirty``)
ROW_FIELDS = ("last_modified", "best_key", "best_filename", "summary", "newest_filename", "summaries")
#: the largest ``summaries`` attribute a row keeps; beyond it the row says nothing and search reads the files
SUMMARIES_LIMIT = 32 * 1024


def micros(value: datetime) -> str:
    """A time as zero-padded microseconds since the epoch: string order is time order."""
    return f"{(value - _EPOCH) // timedelta(microseconds=1):020d}"


def to_time(value: str) -> datetime:
    return _EPOCH + timedelta(microseconds=int(value))


def wire(item: dict[str, str]) -> dict[str, dict[str, str]]:
    return {k: {"S": v} for k, v in item.items()}


def plain(raw: dict[str, dict[str, str]]) -> dict[str, str]:
    return {k: next(iter(v.values())) for k, v in raw.items()}


def comes_first(a: dict[str, str], b: dict[str, str]) -> bool:
    """True when item ``a`` stands before ``b`` in ``all()`` order."""
    return a["sort_key"] > b["sort_key"] or (a["sort_key"] == b["sort_key"] and a["filename"] < b["filename"])


def package_item(p: Package) -> dict[str, str]:
    item = {
        "filename": p.filename,
        "name": p.name,
        "version": p.version,
        "sort_key": p.sort_key,
        "last_modified": micros(p.last_modified),
        "data": p.data_json(),
    }
    if p.summary is not None:  # DynamoDB keeps no empty strings worth having
        item["summary"] = p.summary
    if p.token is not None:  # the storage's change token: a graceful reload skips files whose token is unchanged
        item["token"] = p.token
    size = sum(len(k) + len(v.encode()) for k, v in item.items())
    if size > ITEM_LIMIT:
        raise CacheError(
            f"package {p.filename!r} is {size:,} bytes, over DynamoDB's 400 KB item limit: shorten its summary or metadata"
        )
    return item


def package(item: dict[str, Any]) -> Package:
    return Package.restore(
        item["name"],
        item["version"],
        item["filename"],
        to_time(item["last_modified"]),
        item.get("summary"),
        json.loads(item["data"]),
        item["sort_key"],
        token=item.get("token"),
    )


def row_for(name: str, items: Iterable[dict[str, str]]) -> dict[str, str]:
    """The summary row of a project from its files; a tombstone (no ``best_filename``) when none.

    A tombstone rather than no row: the next writer's conditional write then
    compares against a version, never against "absent", which a writer that
    read the row before it was deleted would also see (see ``_rows``).
    """
    best = newest = None
    by_summary: dict[str, dict[str, str]] = {}
    for item in items:
        text = item.get("summary", "")
        if text not in by_summary or comes_first(item, by_summary[text]):
            by_summary[text] = item
        if best is None or comes_first(item, best):
            best = item
        if newest is None or (item["last_modified"], item["filename"]) > (newest["last_modified"], newest["filename"]):
            newest = item
    row = {"name": name, "version": uuid.uuid4().hex}
    if best is None or newest is None:
        return row
    row.update(
        last_modified=newest["last_modified"],
        newest_filename=newest["filename"],
        best_key=best["sort_key"],
        best_filename=best["filename"],
    )
    if "summary" in best:
        row["summary"] = best["summary"]
    with_summaries(row, {text: (i["sort_key"], i["filename"]) for text, i in by_summary.items()})
    return row


Entries = dict[str, tuple[str, str]]


def with_summaries(row: dict[str, str], entries: Entries) -> None:
    """Keep in the row, for every summary of the project's files, the highest file that has it
    (sort key, filename): search then reads rows, not files.

    Writers only add to it (a removed or replaced file may stay named until the
    row is recomputed): search confirms each file it picks. Absent means
    unknown (too large, or a row from before): search reads that project's files.
    """
    encoded = json.dumps(entries, ensure_ascii=False, sort_keys=True)
    if len(encoded.encode()) <= SUMMARIES_LIMIT:
        row["summaries"] = encoded
    else:
        row.pop("summaries", None)


def summaries_of(row: dict[str, str]) -> Entries | None:
    """The summaries a row lists with their highest file, or None when it does not know them."""
    if "summaries" not in row:
        return None
    return {text: (key, filename) for text, (key, filename) in json.loads(row["summaries"]).items()}


def merged_summaries(entries: Entries, items: Iterable[dict[str, str]]) -> Entries:
    """``entries`` with ``items`` added: each summary keeps the file that comes first."""
    merged = dict(entries)
    for item in items:
        text, known = item.get("summary", ""), merged.get(item.get("summary", ""))
        if known is None or comes_first(item, {"sort_key": known[0], "filename": known[1]}):
            merged[text] = (item["sort_key"], item["filename"])
    return merged


def is_project_row(row: dict[str, str]) -> bool:
    """A row readers see: not the reload lease, not a tombstone."""
    return row["name"] != LOCK_NAME and "best_filename" in row


def same_row(a: dict[str, str], b: dict[str, str]) -> bool:
    """Both rows say the same about their project (versions aside; a dirty row is never the same)."""
    return "dirty" not in a and "dirty" not in b and all(a.get(f) == b.get(f) for f in ROW_FIELDS)
