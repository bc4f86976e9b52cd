"""Round trips per read, counted at a loopback proxy between the cache and the server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from pkgcache.testing import make_package
from pkgcache_sql import SQLCache

from ..proxy import Proxy
from .conftest import MARIADB_URL, POSTGRES_URL, require
from .test_sql_backend import sql_cache

CALLS = 20


def sends_per_call(proxy: Proxy, call: Callable[[], object]) -> int:
    call()  # warm: schema check, pooled connection
    before = proxy.client_sends
    for _ in range(CALLS):
        call()
    # rounded: now and then TCP hands the proxy one message in two pieces
    return round((proxy.client_sends - before) / CALLS)


# PostgreSQL reads run in autocommit: the SELECT alone. MariaDB's PyMySQL connections are not
# in autocommit (writes need their transactions), so a read ends with one ROLLBACK.
@pytest.mark.parametrize(("server", "expected"), [("postgresql", 1), ("mariadb", 2)])
def test_fetch_and_all_cost_one_round_trip_without_a_ping(server: str, expected: int, tmp_path: Path) -> None:
    url = make_url(require(POSTGRES_URL if server == "postgresql" else MARIADB_URL))
    proxy = Proxy(url.host or "127.0.0.1", url.port or (5432 if server == "postgresql" else 3306))
    proxy.start()
    cache: SQLCache = sql_cache(url.set(port=proxy.port).render_as_string(hide_password=False), tmp_path)
    try:
        cache.clear_all()
        cache.save_many([make_package("trips", f"1.{i}") for i in range(3)])
        assert sends_per_call(proxy, lambda: cache.fetch("trips-1.1.tar.gz")) == expected
        assert sends_per_call(proxy, lambda: cache.all("trips")) == expected
        assert sends_per_call(proxy, lambda: cache.fetch("absent-1.0.tar.gz")) == expected
        assert [p.version for p in cache.all("trips")] == ["1.2", "1.1", "1.0"]
        cache.clear_all()
    finally:
        cache.close()
        proxy.stop()
