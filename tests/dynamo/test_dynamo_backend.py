"""What the DynamoDB backend promises beyond the kit: settings rules, tables, requests, faults, limits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from pkgcache import CacheUnavailable, ConfigError, PkgcacheError, load_cache, load_settings
from pkgcache.cli import cli
from pkgcache.testing import make_package
from pkgcache_dynamo import DynamoCache
from tests.support import reload_if_needed_from_processes

from .conftest import MotoServer, dynamo_config


def dynamo_cache(config: dict[str, Any], storage: Path) -> DynamoCache:
    cache = load_cache({**config, "storage.dir": str(storage)}, environ={})
    assert isinstance(cache, DynamoCache)
    return cache


def problems(keys: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings({"pypi.db": "dynamo", "storage.dir": "/x", **keys}, environ={})
    return str(info.value)


# -- settings ------------------------------------------------------------------
def test_region_or_host_is_required_and_the_error_names_both() -> None:
    assert "db.region (or db.region_name) or db.host is required" in problems({})


def test_port_range_and_default() -> None:
    assert "db.port: Input should be less than or equal to 65535" in problems({"db.host": "h", "db.port": "70000"})
    assert "db.port: Input should be greater than or equal to 1" in problems({"db.host": "h", "db.port": "0"})
    assert load_settings({"pypi.db": "dynamo", "db.host": "h", "storage.dir": "/x"}, environ={}).db.port == 8000  # type: ignore[attr-defined]


def test_secure_chooses_https() -> None:
    base = {"pypi.db": "dynamo", "db.host": "h", "db.port": "9000", "storage.dir": "/x"}
    assert load_settings(base, environ={}).db.endpoint_url == "http://h:9000"  # type: ignore[attr-defined]
    assert load_settings({**base, "db.secure": "yes"}, environ={}).db.endpoint_url == "https://h:9000"  # type: ignore[attr-defined]


def test_aliases() -> None:
    keys = {"db.region_name": "eu-west-1", "db.aws_access_key_id": "AK", "db.aws_secret_access_key": "SECRETVALUE"}
    db = load_settings({"pypi.db": "dynamo", "storage.dir": "/x", **keys}, environ={}).db
    assert (db.region, db.access_key, db.secret_key.get_secret_value()) == ("eu-west-1", "AK", "SECRETVALUE")  # type: ignore[attr-defined]


def test_keys_go_together_and_the_secret_never_shows(tmp_path: Path) -> None:
    message = problems({"db.region": "r", "db.secret_key": "SECRETVALUE"})
    assert "db.access_key and db.secret_key go together" in message and "SECRETVALUE" not in message
    assert "SECRETVALUE" not in problems({"db.region": "r", "db.secret_key": "SECRETVALUE", "db.port": "x"})
    config = tmp_path / "c.ini"
    config.write_text(
        "[app:main]\npypi.db = dynamo\ndb.region = r\ndb.access_key = AK\ndb.secret_key = SECRETVALUE\nstorage.dir = /tmp\n"
    )
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(config)])
    assert result.exit_code == 0 and "SECRETVALUE" not in result.output
    settings = load_settings(config, environ={})
    assert "SECRETVALUE" not in repr(settings)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"db.tablenames": "only-one"}, "give exactly two table names"),
        ({"db.tablenames": "okay bad/name"}, "table name 'bad/name'"),
        ({"db.tablenames": "ab cd"}, "table name 'ab'"),
        ({"db.namespace": "x" * 250}, "must be 3 to 255 characters"),
    ],
)
def test_table_names_are_checked(keys: dict[str, str], message: str) -> None:
    assert message in problems({"db.region": "r", **keys})


def test_namespace_prefixes_both_tables() -> None:
    keys = {"db.region": "r", "db.namespace": "prod.", "db.tablenames": "Pkgs Sums"}
    db = load_settings({"pypi.db": "dynamo", "storage.dir": "/x", **keys}, environ={}).db
    assert db.table_names == ("prod.Pkgs", "prod.Sums")  # type: ignore[attr-defined]


# -- tables ----------------------------------------------------------------------
def test_tables_are_created_on_demand_with_the_index(moto_port: int, tmp_path: Path) -> None:
    config = dynamo_config(moto_port)
    with dynamo_cache(config, tmp_path) as cache:
        cache.distinct()
        client = cache.client
        table = client.describe_table(TableName=cache.package_table_name)["Table"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["name-index"]
        created = table["CreationDateTime"]
        write = [make_package("keep", "1")]
        cache._replace_all(write)  # a plain reload must not drop the user's table
        assert client.describe_table(TableName=cache.package_table_name)["Table"]["CreationDateTime"] == created


def test_existing_table_with_the_wrong_key_is_explained(moto_port: int, tmp_path: Path) -> None:
    config = dynamo_config(moto_port)
    client = boto3.client(
        "dynamodb", endpoint_url=f"http://127.0.0.1:{moto_port}", region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing-secret",
    )  # fmt: skip
    client.create_table(
        TableName=config["db.namespace"] + "DynamoPackage",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with (
        dynamo_cache(config, tmp_path) as cache,
        pytest.raises(PkgcacheError, match="needs its only key to be 'filename'"),
    ):
        cache.distinct()


def test_item_over_400_kb_is_a_clear_error(moto_port: int, tmp_path: Path) -> None:
    from pkgcache import Package  # Package cuts summaries far below 400 KB: restore() skips the cut

    with (
        dynamo_cache(dynamo_config(moto_port), tmp_path) as cache,
        pytest.raises(PkgcacheError, match=r"huge-1\.0\.tar\.gz"),
    ):
        cache.save(Package.restore("huge", "1.0", "huge-1.0.tar.gz", make_package().last_modified, "x" * 500_000, {}))


# -- requests ------------------------------------------------------------------
def test_requests_per_call(moto_port: int, tmp_path: Path) -> None:
    with dynamo_cache(dynamo_config(moto_port), tmp_path) as cache:
        cache.save_many([make_package(f"p{i}", f"1.{j}") for i in range(30) for j in range(3)])
        calls: list[tuple[str, str]] = []

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            calls.append((model.name, params.get("TableName", ",".join(params.get("RequestItems", {})))))

        cache.client.meta.events.register("provide-client-params.dynamodb", record)

        def requests(call: Any) -> list[tuple[str, str]]:
            calls.clear()
            call()
            return list(calls)

        packages_table, summary_table = cache.settings.table_names
        assert requests(lambda: cache.fetch("p1-1.0.tar.gz")) == [("GetItem", packages_table)]
        assert requests(lambda: cache.all("p1")) == [("Query", packages_table)]
        assert requests(cache.distinct) == [("Scan", summary_table)]
        assert requests(cache.summary) == [("Scan", summary_table)]
        batch = requests(lambda: cache.save_many([make_package(f"n{i}", "1") for i in range(60)]))
        writes = [c for c in batch if c[0] == "BatchWriteItem"]
        assert len(writes) == 3  # 60 items, 25 a request


# -- processes and faults ------------------------------------------------------------
def test_four_processes_on_empty_tables(moto_port: int, tmp_path: Path) -> None:
    """Every process finds no tables and creates them at once; one of them fills the cache."""
    config, storage = dynamo_config(moto_port), tmp_path / "storage"
    from pkgcache.file_storage import FileStorage

    files = FileStorage(FileStorage.Settings(dir=storage))
    for i in range(60):
        files.upload(make_package(f"p{i % 12}", f"1.{i}"), b"x")
    assert reload_if_needed_from_processes({**config, "storage.dir": str(storage)}) == [False, False, False, True]
    with dynamo_cache(config, tmp_path) as cache:
        assert len(cache.distinct()) == 12


def test_server_stop_and_restart(own_moto: MotoServer, tmp_path: Path) -> None:
    with dynamo_cache(dynamo_config(own_moto.port), tmp_path) as cache:
        cache.save(make_package("up", "1"))
        own_moto.stop()
        started = time.monotonic()
        with pytest.raises(CacheUnavailable, match=f"127.0.0.1:{own_moto.port}"):
            cache.distinct()
        assert time.monotonic() - started < 20
        ok, message = cache.check_health()
        assert not ok and "testing-secret" not in message
        own_moto.start()
    with dynamo_cache(dynamo_config(own_moto.port), tmp_path) as cache:  # the restarted server lost its tables
        assert cache.distinct() == []
        cache.save(make_package("again", "1"))
        assert cache.distinct() == ["again"]


def test_search_reads_rows_not_every_file(moto_port: int, tmp_path: Path) -> None:
    """Same answers as the generic search over every file, without a scan of the package table."""
    from pkgcache import Cache

    with dynamo_cache(dynamo_config(moto_port), tmp_path) as cache:
        packages = [
            make_package(f"proj{i}", f"1.{v}", summary=f"Tool {i % 3} {'OLD' if v < 2 else 'new'} ünïcode")
            for i in range(12)
            for v in range(4)
        ]
        cache.save_many([*packages, make_package("bare", "1", summary=None)])
        cache.clear(make_package("proj5", "1.0"))  # a removed summary may linger in the row: still right
        calls: list[tuple[str, str]] = []
        cache.client.meta.events.register(
            "provide-client-params.dynamodb",
            lambda params, model, **_: calls.append((model.name, params.get("TableName", ""))),
        )
        queries = [
            ({"name": ["proj1"]}, "or"),
            ({"summary": ["old"]}, "or"),
            ({"summary": ["TOOL 2", "new"]}, "and"),
            ({"name": ["proj"], "summary": ["old"]}, "and"),
            ({"name": ["bare"], "summary": ["zzz"]}, "or"),
            ({"summary": [""]}, "and"),
        ]
        for criteria, query_type in queries:
            calls.clear()
            fast = cache.search(criteria, query_type)
            assert fast and ("Scan", cache.package_table_name) not in calls
            assert [p.to_dict() for p in fast] == [p.to_dict() for p in Cache.search(cache, criteria, query_type)]
