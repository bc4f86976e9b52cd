"""Shared test settings: server fixtures skip when a server is absent, unless CI demands it."""

from __future__ import annotations

import os

import pytest

#: set by .ci/run: a missing server is then a failure, never a skip
REQUIRE_SERVERS = os.environ.get("PKGCACHE_REQUIRE_SERVERS", "") not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> None:
    """Skip a test whose server is absent; fail instead when servers are required (CI)."""
    if REQUIRE_SERVERS:
        pytest.fail(f"{reason} (PKGCACHE_REQUIRE_SERVERS is set, so this is a failure)", pytrace=False)
    pytest.skip(reason)
