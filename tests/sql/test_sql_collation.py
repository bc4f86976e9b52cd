"""MariaDB and MySQL key columns compare byte for byte: their ``utf8mb4_bin`` ignores
trailing spaces, so the tables use a NO PAD binary collation where the server has one."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from pkgcache import load_cache
from pkgcache.testing import make_package
from pkgcache_sql import SQLCache
from pkgcache_sql.schema import files, projects

from .conftest import MARIADB_URL, require


def test_mariadb_key_columns_do_not_pad_spaces(tmp_path: Path) -> None:
    url = require(MARIADB_URL)
    cache = load_cache({"pypi.db": "sql", "db.url": url, "storage.dir": str(tmp_path)}, environ={})
    assert isinstance(cache, SQLCache)
    with cache, cache.engine.begin() as conn:  # tables an older schema made keep their collation: start fresh
        for table in ("pkgcache_files", "pkgcache_projects", "pkgcache_meta"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    with load_cache({"pypi.db": "sql", "db.url": url, "storage.dir": str(tmp_path)}, environ={}) as cache:
        assert isinstance(cache, SQLCache)
        cache.save(make_package("foo", "1.0", filename="foo-1.0.tar.gz"))
        with cache.engine.connect() as conn:
            collations = dict(
                conn.execute(
                    text(
                        "SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME), COLLATION_NAME FROM information_schema.COLUMNS"
                        " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (:f, :p)"
                    ),
                    {"f": files.name, "p": projects.name},
                ).all()
            )
            # the stored key is not found by the same key with a trailing space
            padded = conn.execute(
                text(f"SELECT COUNT(*) FROM {files.name} WHERE filename = :k"), {"k": "foo-1.0.tar.gz "}
            ).scalar()
        assert collations[f"{files.name}.filename"] == "utf8mb4_nopad_bin", collations
        assert collations[f"{projects.name}.name"] == "utf8mb4_nopad_bin", collations
        assert padded == 0


def test_non_utf8_arguments_find_nothing_without_a_traceback(tmp_path: Path) -> None:
    """``pkgcache show $'\\xff'``: the argument arrives as a lone surrogate, which the
    database cannot encode; the command answers as for any unknown project."""
    import os
    import subprocess
    import sys

    config = tmp_path / "pypi.ini"
    config.write_text(f"[app:main]\npypi.db = sql\ndb.url = sqlite:///{tmp_path}/c.db\nstorage.dir = {tmp_path}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PKGCACHE_", "PPC_"))}
    run = [sys.executable, "-m", "pkgcache"]
    for args, code in ([b"show", b"\xff"], 1), ([b"search", b"\xff", b"a\x01"], 0):
        result = subprocess.run(
            [*map(os.fsencode, run), *args, b"-c", os.fsencode(config)], capture_output=True, env=env
        )
        assert result.returncode == code, result.stderr
        assert b"Traceback" not in result.stderr, result.stderr
    show = subprocess.run(
        [*map(os.fsencode, run), b"show", b"\xff", b"-c", os.fsencode(config)], capture_output=True, env=env
    )
    assert show.stderr.decode(errors="replace").strip() == "error: no project '\\udcff' in the cache"
