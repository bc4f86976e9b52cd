"""The Redis backend's connection: the key names of one prefix, the redis-py client (standalone
or cluster) with its Lua scripts, and errors sorted by cause with secrets scrubbed.

A mixin of :class:`~pkgcache_redis.cache.RedisCache`, apart from it so that the
backend reads as what it stores; the key schema is in that module's docstring.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError, RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from pkgcache import CacheError, CacheFull, CacheUnavailable, mask_url, scrub, url_secrets

from . import _scripts
from .settings import RedisSettings

__all__ = ["INDEX_TAG", "STAGED", "TAG_LENGTH", "RedisConnection"]

STAGED = "~tmp."
TAG_LENGTH = 12
#: hash tag of the index keys: no project name holds a "/", so no project's keys are the index's
INDEX_TAG = "/index"


class RedisConnection:
    """Key names, client and errors; :meth:`_setup` reads the settings."""

    settings: RedisSettings

    def _setup(self, settings: RedisSettings) -> None:
        raw = settings.url.get_secret_value()
        self._address = mask_url(raw)
        self._secrets = url_secrets(raw)
        self.prefix = settings.prefix
        index = f"{self.prefix}{{{INDEX_TAG}}}"
        self.index_key = f"{index}:files"
        self.summary_key = f"{index}:summary"
        self.search_key = f"{index}:search"
        self.serial_key = f"{index}:serial"  # the scripts name it from summary_key
        self.versions_key = f"{index}:versions"
        self.file_versions_key = f"{index}:file-versions"
        self.floor_key = f"{index}:floor"
        self.lock_key = f"{index}:reload-lock"
        self._client: Any = None
        self._scripts: Any = None

    @property
    def client(self) -> Any:
        """The redis-py client, made on first use (a cluster client connects when made)."""
        if self._client is None:
            with self._errors():
                self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        timeout = self.settings.socket_timeout
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
        }
        url = self.settings.url.get_secret_value()
        if self.settings.clustered:
            client: Any = redis.RedisCluster.from_url(url, **options)
        else:
            client = redis.Redis.from_url(url, retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2), **options)
        self._scripts = SimpleNamespace(
            **{
                name.lower(): client.register_script(getattr(_scripts, name))
                for name in (
                    "SAVE",
                    "CLEAR",
                    "PROJECT_SAVE",
                    "PROJECT_CLEAR",
                    "INDEX_APPLY",
                    "PROJECT_SWAP",
                    "INDEX_SWAP",
                    "RELEASE",
                    "RENEW",
                )
            }
        )
        return client

    @property
    def scripts(self) -> Any:
        """The Lua scripts, registered with the client (made on first use)."""
        _ = self.client
        return self._scripts

    def _scrub(self, message: str) -> str:
        return scrub(message, self._secrets)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Unreachable or silent: CacheUnavailable; the server refusing a command: its own cause."""
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, RedisClusterException) as err:
            raise CacheUnavailable(self._scrub(f"redis backend cannot reach {self._address}: {err}")) from err
        except RedisError as err:
            raise self._refused(err) from err

    def _refused(self, err: RedisError) -> CacheError:
        text = self._scrub(str(err))
        where = f"redis server at {self._address}"
        # a script's write refused for memory arrives as a plain script error naming OOM
        if isinstance(err, OutOfMemoryError) or "OOM command not allowed" in text:
            return CacheFull(
                f"{where} is full (maxmemory reached, nothing was written): "
                f"raise maxmemory or free memory, then retry ({text})"
            )
        if isinstance(err, ReadOnlyError) or "READONLY" in text:
            return CacheError(f"{where} is a read-only replica: point db.url at the primary ({text})")
        return CacheError(f"{where} refused the command: {text}")

    def _files_key(self, name: str) -> str:
        return f"{self.prefix}{{{name}}}:files"

    def _best_key(self, name: str) -> str:
        return f"{self.prefix}{{{name}}}:best"

    def _version_key(self, name: str) -> str:
        return f"{self.prefix}{{{name}}}:version"

    def _staging_key(self, tag: str) -> str:
        return f"{self.prefix}{{{INDEX_TAG}}}:staging:{tag}"
