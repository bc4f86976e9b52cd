"""A server that answered and refused is not "cannot reach": CacheRefused names the
server, its reason and what to fix; and ``postgres://`` says to write ``postgresql://``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from pkgcache import CacheRefused, ConfigError, load_cache, load_settings

from .conftest import MARIADB_URL, POSTGRES_URL, require


def refusal(url: str, tmp_path: Path) -> str:
    with load_cache({"pypi.db": "sql", "db.url": url, "storage.dir": str(tmp_path)}, environ={}) as cache:
        with pytest.raises(CacheRefused) as info:
            cache.distinct()
        ok, message = cache.check_health()
        assert not ok and "refused" in message
    return str(info.value)


@pytest.mark.parametrize(
    ("server", "change", "expected"),
    [
        ("postgresql", {"database": "no_such_db"}, 'PostgreSQL at {host} refused: database "no_such_db" does not exist: create it or fix db.url'),
        ("postgresql", {"username": "no_such_role"}, 'PostgreSQL at {host} refused: role "no_such_role" does not exist: fix the user or password in db.url, or grant that user access'),
        ("mariadb", {"database": "no_such_db"}, "MySQL at {host} refused: Unknown database 'no_such_db': create it or fix db.url"),
        ("mariadb", {"username": "no_such_user"}, "MySQL at {host} refused: Access denied for user 'no_such_user'@'127.0.0.1'"),
    ],
)  # fmt: skip
def test_refusals_name_the_server_the_reason_and_the_remedy(
    server: str, change: dict[str, str], expected: str, tmp_path: Path
) -> None:
    url = make_url(require(POSTGRES_URL if server == "postgresql" else MARIADB_URL))
    message = refusal(url.set(**change).render_as_string(hide_password=False), tmp_path)
    assert message.startswith(
        expected.format(host=f"{url.host}:{url.port or (5432 if server == 'postgresql' else 3306)}")
    )


def test_postgres_scheme_says_to_write_postgresql() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"pypi.db": "sql", "db.url": "postgres://u@h/db", "storage.dir": "/x"}, environ={})
    assert str(info.value) == (
        "db.url: SQLAlchemy names PostgreSQL 'postgresql': write postgresql:// instead of postgres://"
    )
