"""A reload in a child process that stops after a chosen statement, so the test can SIGKILL it there.

Usage: python -m tests.sql._reload_child URL STORAGE MODE MARKER COUNT LEASE

MODE is ``reload`` (plain reload) or ``if_needed``. After the COUNT-th
statement that starts with MARKER has run (inside the reload's
transaction), the child prints ``paused`` and waits for a line on stdin
that never comes: the test kills it with SIGKILL while it waits.
"""

from __future__ import annotations

import sys
from typing import Any

from sqlalchemy import event

import pkgcache_sql.cache
from pkgcache import load_cache


def main() -> None:
    url, storage, mode, marker, count, lease = sys.argv[1:7]
    pkgcache_sql.cache.INSERT_BATCH = 200  # many batches: the kill can land between two of them
    pkgcache_sql.SQLCache.lease_seconds = float(lease)
    cache = load_cache({"pypi.db": "sql", "db.url": url, "storage.dir": storage}, environ={})
    seen = 0

    @event.listens_for(cache.engine, "after_cursor_execute")  # type: ignore[misc]
    def pause(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal seen
        if statement.startswith(marker):
            seen += 1
            if seen == int(count):
                print("paused", flush=True)
                sys.stdin.readline()

    if mode == "reload":
        cache.reload_from_storage()
    else:
        cache.reload_if_needed()
    print("finished", flush=True)


if __name__ == "__main__":
    main()
