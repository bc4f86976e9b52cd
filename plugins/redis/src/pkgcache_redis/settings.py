"""The ``db.*`` keys of the Redis backend, checked before any connection is made."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import SplitResult, parse_qs, urlsplit

from pydantic import Field, field_validator

from pkgcache import BackendSettings, SecretUrl
from pkgcache.plugin import PERCENT_ENCODING_ADVICE, password_needs_encoding

__all__ = ["RedisSettings", "database_of"]

SCHEMES = ("redis", "rediss", "unix")


def database_of(url: SplitResult) -> int:
    """The database index of a redis URL: the path (``/3``) or ``?db=3``; 0 by default."""
    if url.scheme == "unix":
        value = parse_qs(url.query).get("db", ["0"])[0]
    else:
        value = url.path.strip("/") or "0"
    if not value.isdigit():
        raise ValueError(f"the database index must be a whole number >= 0, not {value!r}")
    return int(value)


class RedisSettings(BackendSettings):
    """Settings of ``pypi.db = redis``."""

    url: SecretUrl = Field(
        description="redis://[user:password@]host[:6379][/db], rediss:// (TLS), or unix:///path/redis.sock[?db=0]"
    )
    clustered: bool = Field(False, description="Redis Cluster (db.url names any one node)")
    prefix: str = Field(
        "pkgcache:",
        min_length=1,
        description="Prefix of every key; give each index sharing a server its own",
    )
    socket_timeout: float = Field(5.0, gt=0, le=300, description="Seconds before a silent server is unavailable")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretUrl) -> SecretUrl:
        raw = value.get_secret_value()
        if password_needs_encoding(raw):
            raise ValueError(
                f"the URL's user or password holds a raw / # ? or @ that splits the URL: {PERCENT_ENCODING_ADVICE}"
            )
        try:
            parts = urlsplit(raw)
        except ValueError:
            raise ValueError(f"{value.masked!r} is not a URL: redis://[user:password@]host:6379/0") from None
        if parts.scheme not in SCHEMES:
            raise ValueError(f"{value.masked!r} must start with redis://, rediss:// or unix://")
        if parts.scheme == "unix":
            if not parts.path:
                raise ValueError("a unix:// URL needs the socket's path: unix:///var/run/redis/redis.sock")
        else:
            if not parts.hostname:
                raise ValueError(f"{value.masked!r} names no host: redis://host:6379/0")
            try:
                port = parts.port
            except ValueError:
                raise ValueError("the port must be a number from 1 to 65535") from None
            if port == 0:
                raise ValueError("the port must be a number from 1 to 65535")
        database_of(parts)
        return value

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if "{" in value or "}" in value:
            raise ValueError("must not contain '{' or '}': braces are the cluster hash tags of the keys")
        return value

    def broken_rules(self) -> Iterator[tuple[str | None, str]]:
        if self.clustered and database_of(urlsplit(self.url.get_secret_value())) != 0:
            yield "url", "Redis Cluster has only database 0 (db.clustered is on): drop the /N from the URL"
