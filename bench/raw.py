"""The physical limit: the raw driver writing the same rows in one bulk insert.

Rows are prepared before the clock starts; the timing covers only the
driver's executemany into an empty table of the same columns, and the commit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Index, MetaData, Table, create_engine

from pkgcache.package import Package

COLUMNS = (
    "filename",
    "name",
    "version",
    "sort_key",
    "last_modified",
    "summary",
    "summary_folded",
    "data",
    "name_folded",
    "token",
)


def rows_of(packages: Sequence[Package]) -> list[tuple[Any, ...]]:
    return [
        (
            p.filename,
            p.name,
            p.version,
            p.sort_key,
            p.last_modified.replace(tzinfo=None),
            p.summary,
            (p.summary or "").casefold(),
            p.data_json(),
            p.name.casefold(),
            p.token,
        )
        for p in packages
    ]


def sql_raw_insert(url: str, packages: Sequence[Package]) -> float:
    """executemany with the DBAPI driver of ``url`` (sqlite3, psycopg 3, PyMySQL)."""
    from pkgcache_sql.schema import files
    from pkgcache_sql.settings import engine_url

    engine = create_engine(engine_url(url))
    columns = [c._copy() for c in files.columns]
    raw_table = Table("bench_raw_files", MetaData(), *columns, Index("ix_bench_raw_name_key", "name", "sort_key"))
    raw_table.drop(engine, checkfirst=True)
    raw_table.create(engine)
    rows = rows_of(packages)
    if engine.dialect.name == "sqlite":
        rows = [(*r[:4], r[4].isoformat(sep=" "), *r[5:]) for r in rows]
    marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO bench_raw_files ({', '.join(COLUMNS)}) VALUES ({', '.join([marker] * len(COLUMNS))})"
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        started = time.perf_counter()
        cursor.executemany(sql, rows)
        connection.commit()
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    raw_table.drop(engine)
    engine.dispose()
    return seconds


def memory_raw_insert(packages: Sequence[Package]) -> float:
    started = time.perf_counter()
    table = {p.filename: p for p in packages}
    assert len(table) == len(packages)
    return time.perf_counter() - started


def redis_raw_insert(url: str, packages: Sequence[Package]) -> float:
    """A redis-py pipeline of one HSET and two SADD per file, in batches of 1,000."""
    import json

    import redis

    client = redis.Redis.from_url(url)
    rows = [
        (
            p.filename,
            p.name,
            {"name": p.name, "version": p.version, "summary": p.summary or "", "data": json.dumps(p.data)},
        )
        for p in packages
    ]
    started = time.perf_counter()
    for start in range(0, len(rows), 1000):
        pipe = client.pipeline(transaction=False)
        for filename, name, fields in rows[start : start + 1000]:
            pipe.hset(f"bench-raw:{filename}", mapping=fields)
            pipe.sadd("bench-raw:set", filename)
            pipe.sadd(f"bench-raw:set:{name}", filename)
        pipe.execute()
    seconds = time.perf_counter() - started
    keys = list(client.scan_iter(match="bench-raw:*", count=5000))
    for start in range(0, len(keys), 5000):
        client.delete(*keys[start : start + 5000])
    client.close()
    return seconds


def dynamo_raw_insert(db: Any, packages: Sequence[Package]) -> float:
    """boto3 ``batch_write_item`` of the same items, 25 a request, into a fresh table."""
    import boto3

    from pkgcache_dynamo._items import package_item as _item

    secret = db.secret_key.get_secret_value() if db.secret_key else None
    session = boto3.session.Session(db.access_key, secret, region_name=db.region or "us-east-1")
    resource = session.resource("dynamodb", endpoint_url=db.endpoint_url)
    name = f"{db.namespace}bench-raw"
    table = resource.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "filename", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "filename", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()
    requests = [{"PutRequest": {"Item": _item(p)}} for p in packages]
    started = time.perf_counter()
    for start in range(0, len(requests), 25):
        pending = {name: requests[start : start + 25]}
        while pending:
            pending = resource.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    seconds = time.perf_counter() - started
    table.delete()
    return seconds
