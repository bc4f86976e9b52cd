"""S3 tests: one fresh bucket per test on the session's moto server (``moto_port``, from :mod:`tests.support`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import RequestCounter, make_storage, s3_config, storage_settings

__all__ = ["RequestCounter", "make_storage", "s3_config", "storage_settings"]


@pytest.fixture
def raw(moto_port: int) -> Iterator[Any]:
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
