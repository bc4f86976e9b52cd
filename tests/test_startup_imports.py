"""``pkgcache validate`` on a Redis, DynamoDB or S3 config imports the plugin's settings
model alone, not redis-py or boto3 (a real run in a fresh interpreter; no timing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sql.test_sql_startup import modules_after, of

CONFIGS = {
    "redis": ("[app:main]\npypi.db = redis\ndb.url = redis://127.0.0.1:6379/0\nstorage.dir = {dir}\n", ["redis"]),
    "dynamo": ("[app:main]\npypi.db = dynamo\ndb.region = us-east-1\nstorage.dir = {dir}\n", ["boto3", "botocore"]),
    "s3": (
        "[app:main]\npypi.db = memory\npypi.storage = s3\nstorage.bucket = pkgs\nstorage.region_name = us-east-1\n",
        ["boto3", "botocore"],
    ),
}


@pytest.mark.parametrize("plugin", sorted(CONFIGS))
def test_validate_imports_the_settings_model_not_the_client_library(tmp_path: Path, plugin: str) -> None:
    text, heavy = CONFIGS[plugin]
    config = tmp_path / "c.ini"
    config.write_text(text.format(dir=tmp_path))
    loaded = modules_after(tmp_path, "validate", str(config))
    assert f"pkgcache_{plugin}.settings" in loaded  # the plugin's rules ran
    assert [m for package in heavy for m in of(package, loaded)] == []
