"""Secrets in a URL's query string (``?password=...``), which the drivers use, are
masked wherever the URL is shown: validate (text and JSON), reprs, and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pkgcache import CacheUnavailable, load_cache, load_settings, mask_url
from tests.support import free_port

SECRET = "TopSecret42"


def urls(port: int) -> list[str]:
    return [
        f"postgresql://u@127.0.0.1:{port}/db?password={SECRET}",
        f"postgresql://u@127.0.0.1:{port}/db?sslmode=disable&sslpassword={SECRET}&connect_timeout=2",
        f"mysql+pymysql://u@127.0.0.1:{port}/db?charset=utf8mb4&password={SECRET}",
        f"mysql+pymysql://u@127.0.0.1:{port}/db?charset=utf8mb4&passwd={SECRET}",
    ]


@pytest.mark.parametrize(
    "url",
    [
        f"redis://h:6379/0?password={SECRET}",
        f"https://bucket.s3.amazonaws.com/key?X-Amz-Credential={SECRET}&X-Amz-Signature={SECRET}&X-Amz-Expires=60",
        f"postgresql://u:{SECRET}@h/db?token={SECRET}&application_name=app",
    ],
)
def test_mask_url_masks_query_secrets(url: str) -> None:
    shown = mask_url(url)
    assert SECRET not in shown and "***" in shown
    assert "X-Amz-Expires=60" in shown or "application_name=app" in shown or "redis://h:6379/0?" in shown


@pytest.mark.parametrize("index", range(4))
def test_validate_and_repr_never_show_a_query_password(tmp_path: Path, index: int) -> None:
    url = urls(5432)[index]
    config = tmp_path / "pypi.ini"
    config.write_text(f"[app:main]\npypi.db = sql\ndb.url = {url}\nstorage.dir = {tmp_path}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PKGCACHE_", "PPC_"))}
    for fmt in ("text", "json"):
        result = subprocess.run(
            [sys.executable, "-m", "pkgcache", "validate", "--format", fmt, str(config)],
            capture_output=True,
            text=True,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert SECRET not in result.stdout + result.stderr
    shown = json.loads(
        subprocess.run(
            [sys.executable, "-m", "pkgcache", "validate", "--format", "json", str(config)],
            capture_output=True,
            text=True,
            env=env,
        ).stdout
    )
    assert "***" in json.dumps(shown)
    settings = load_settings({"pypi.db": "sql", "db.url": url, "storage.dir": str(tmp_path)}, environ={})
    assert SECRET not in repr(settings) and SECRET not in str(settings.public_dict())


@pytest.mark.parametrize("index", [0, 2])
def test_cannot_reach_errors_never_show_a_query_password(tmp_path: Path, index: int) -> None:
    url = urls(free_port())[index]  # nothing listens there
    cache = load_cache({"pypi.db": "sql", "db.url": url, "storage.dir": str(tmp_path)}, environ={})
    with pytest.raises(CacheUnavailable) as info:
        cache.distinct()
    assert SECRET not in str(info.value) and "127.0.0.1" in str(info.value)
    ok, message = cache.check_health()
    assert not ok and SECRET not in message
    assert SECRET not in repr(cache)
