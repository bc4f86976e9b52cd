"""The conformance kit against the DynamoDB backend on moto's standalone server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pkgcache.testing import CacheConformance

from .conftest import dynamo_config


class TestDynamo(CacheConformance):
    big_project_files = 1500
    stateful_examples = 8

    @pytest.fixture(autouse=True)
    def _server(self, moto_port: int) -> None:
        if not hasattr(type(self), "config"):
            type(self).config = dynamo_config(moto_port)

    def cache_config(self, storage_dir: Path) -> dict[str, Any]:
        return dict(self.config)
