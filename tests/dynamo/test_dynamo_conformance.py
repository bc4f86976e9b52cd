"""The conformance kit against the DynamoDB backend on moto's standalone server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pkgcache.testing import CacheConformance

from .conftest import dynamo_config


class TestDynamo(CacheConformance):
    #: True in the kit's sense: a plain reload reconciles in place (writes what changed, deletes what is
    #: gone), so readers never see an empty cache. It is not one switch: during a reload a reader may
    #: see some projects already new and others still old (a partial mix), never nothing.
    atomic_reload = True
    big_project_files = 1500
    stateful_examples = 8

    @pytest.fixture(autouse=True)
    def _server(self, moto_port: int) -> None:
        if not hasattr(type(self), "config"):
            type(self).config = dynamo_config(moto_port)

    def cache_config(self, storage_dir: Path) -> dict[str, Any]:
        return dict(self.config)
