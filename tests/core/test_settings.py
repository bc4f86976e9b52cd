"""Settings sources, precedence, masking and the Python API of ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from pkgcache import BackendSettings, ConfigError, SecretUrl, load_cache, load_settings, mask_url
from pkgcache.memory import MemoryCache
from pkgcache.settings import json_schema

BASE = {"pypi.db": "memory", "storage.dir": "/srv/pkgs"}


class SecretCache(MemoryCache):
    """A memory cache whose settings hold secrets, to test masking."""

    class Settings(BackendSettings):
        url: SecretUrl
        port: int = Field(8000, ge=1, le=65535)


SECRET = {"pypi.db": f"{__name__}:SecretCache", "storage.dir": "/srv"}


def test_environment_overrides_file_and_ppc_prefix_works(tmp_path: Path) -> None:
    config = tmp_path / "c.ini"
    config.write_text("[app:main]\npypi.db = memory\nstorage.dir = /from/file\ndb.graceful_reload = false\n")
    env = {"PKGCACHE_STORAGE_DIR": "/from/env", "PPC_DB_GRACEFUL_RELOAD": "on", "UNRELATED": "x"}
    settings = load_settings(config, environ=env)
    assert str(settings.storage.dir) == "/from/env"  # type: ignore[attr-defined]
    assert settings.db.graceful_reload is True


def test_pkgcache_prefix_wins_over_ppc() -> None:
    env = {"PPC_STORAGE_DIR": "/ppc", "PKGCACHE_STORAGE_DIR": "/pkgcache"}
    assert str(load_settings({"pypi.db": "memory"}, environ=env).storage.dir) == "/pkgcache"  # type: ignore[attr-defined]


def test_env_problem_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(BASE, environ={"PKGCACHE_DB_GRACEFUL_RELOAD": "maybe"})
    assert str(info.value).startswith("environment variable PKGCACHE_DB_GRACEFUL_RELOAD: db.graceful_reload:")


@pytest.mark.parametrize("word", ["true", "YES", "On", "1", "false", "no", "OFF", "0"])
def test_pypicloud_boolean_words(word: str) -> None:
    expected = word.lower() in ("true", "yes", "on", "1")
    assert load_settings({**BASE, "db.graceful_reload": word}, environ={}).db.graceful_reload is expected


def test_pypicloud_class_paths_map_to_our_names() -> None:
    settings = load_settings({**BASE, "pypi.storage": "pypicloud.storage.FileStorage"}, environ={})
    assert settings.storage_name == "file"


def test_out_of_range_port_and_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**SECRET, "db.port": "70000", "db.nope": "1"}, environ={})
    keys = sorted(p.key or "" for p in info.value.problems)
    assert keys == ["db.nope", "db.port", "db.url"]
    port = next(p for p in info.value.problems if p.key == "db.port")
    assert port.message == "Input should be less than or equal to 65535"


def test_secrets_never_shown() -> None:
    url = "postgresql://alice:s3cr3t-pw@db.example:5432/pkgs"
    settings = load_settings({**SECRET, "db.url": url}, environ={})
    assert "s3cr3t" not in repr(settings)
    assert "s3cr3t" not in str(settings.public_dict())
    assert settings.public_dict()["db"]["url"] == "postgresql://alice:***@db.example:5432/pkgs"
    assert settings.db.url.get_secret_value() == url  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as info:
        load_settings({**SECRET, "db.url": url, "db.port": "x"}, environ={})
    assert "s3cr3t" not in str(info.value)


def test_mask_url() -> None:
    assert mask_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert mask_url("sqlite:///tmp/x.db") == "sqlite:///tmp/x.db"
    assert mask_url("mysql+pymysql://u@h/db") == "mysql+pymysql://u@h/db"


def test_load_cache_from_dict_builds_the_backend(tmp_path: Path) -> None:
    with load_cache({"pypi.db": "memory", "storage.dir": str(tmp_path)}, environ={}) as cache:
        assert isinstance(cache, MemoryCache)
        assert cache.storage.root == tmp_path  # type: ignore[attr-defined]


def test_json_schema_lists_prefixed_keys() -> None:
    schema = json_schema(f"{__name__}:SecretCache")
    assert {"pypi.db", "pypi.storage", "storage.dir", "db.url", "db.port", "db.graceful_reload"} <= set(
        schema["properties"]
    )
    assert schema["properties"]["db.port"]["maximum"] == 65535
    assert "db.url" in schema["required"]


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://alice:pa/ss#1?x@h:5432/db", "postgresql://alice:***@h:5432/db"),
        ("redis://:p@ss@h:6379/0", "redis://:***@h:6379/0"),
        ("sqlite:////srv/a@b:c.db", "sqlite:////srv/a@b:c.db"),
        ("redis://user@h/0", "redis://user@h/0"),
    ],
)
def test_mask_url_hides_raw_reserved_characters(url: str, masked: str) -> None:
    assert mask_url(url) == masked
