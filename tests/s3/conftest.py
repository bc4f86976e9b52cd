"""moto's standalone S3 server on a free loopback port, one fresh bucket per test."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.dynamo.conftest import moto_port  # noqa: F401 - a fixture, found by pytest through this import


def s3_config(port: int, bucket: str, **keys: Any) -> dict[str, Any]:
    """Keys of an S3 storage on the moto server."""
    return {
        "pypi.storage": "s3",
        "storage.bucket": bucket,
        "storage.endpoint_url": f"http://127.0.0.1:{port}",
        "storage.region_name": "us-east-1",
        "storage.aws_access_key_id": "testing",
        "storage.aws_secret_access_key": "testing-secret",
        "storage.max_attempts": "2",
        **keys,
    }


def storage_settings(port: int, bucket: str, **keys: Any) -> Any:
    from pkgcache_s3 import S3Settings

    config = s3_config(port, bucket, **keys)
    return S3Settings(**{k.removeprefix("storage."): v for k, v in config.items() if k.startswith("storage.")})


def make_storage(port: int, bucket: str, **keys: Any) -> Any:
    from pkgcache_s3 import S3Storage

    return S3Storage(storage_settings(port, bucket, **keys))


class RequestCounter:
    """Counts the HTTP requests a boto3 client sends, by operation, through botocore's event hooks."""

    def __init__(self, client: Any) -> None:
        self.counts: Counter[str] = Counter()
        client.meta.events.register("before-send.s3.*", self._sent)

    def _sent(self, request: Any, **kwargs: Any) -> None:
        self.counts[kwargs["event_name"].rsplit(".", 1)[1]] += 1

    def reset(self) -> None:
        self.counts.clear()

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@pytest.fixture
def raw(moto_port: int) -> Iterator[Any]:  # noqa: F811
    """A plain boto3 client, to write and read objects the way pypicloud does."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{moto_port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
    )
    yield client
    client.close()


@pytest.fixture
def bucket(raw: Any) -> str:
    """A fresh, empty bucket."""
    name = f"pkgs-{uuid.uuid4().hex[:12]}"
    raw.create_bucket(Bucket=name)
    return name
