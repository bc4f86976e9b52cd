"""A Redis URL's ``?password=`` (redis-py uses it) is masked in reprs and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pkgcache import CacheUnavailable, load_cache
from tests.support import free_port

SECRET = "TopSecret42"


def test_query_password_is_masked_in_errors_and_repr(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/9?password={SECRET}&socket_connect_timeout=1"
    cache = load_cache({"pypi.db": "redis", "db.url": url, "storage.dir": str(tmp_path)}, environ={})
    assert SECRET not in repr(cache) and SECRET not in repr(cache.settings)
    with pytest.raises(CacheUnavailable) as info:
        cache.distinct()
    assert SECRET not in str(info.value) and "127.0.0.1" in str(info.value)
    ok, message = cache.check_health()
    assert not ok and SECRET not in message
