"""Base classes for the settings models that backends and storages declare.

A plugin's ``Settings`` class lists its keys without their prefix (``url``
for ``db.url``) and is validated by :func:`pkgcache.load_settings` after the
core has chosen the plugin. It is a pydantic-settings model, so it can also
be built alone from the environment (``PKGCACHE_DB_URL``) in a plugin's own
tests. Unknown keys are errors (``extra="forbid"``): the loader turns them
into did-you-mean hints.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["BackendSettings", "SecretUrl", "StorageSettings", "mask_url"]

_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@?#]*:)(?P<pw>[^@/?#]*)(?P<at>@)")


def mask_url(url: str) -> str:
    """Replace the password of ``scheme://user:password@host`` with ``***``."""
    return _PASSWORD_IN_URL.sub(lambda m: m["head"] + "***" + m["at"], url)


class SecretUrl(SecretStr):
    """A URL that may hold a password: shown with the password masked.

    ``str()``, ``repr()`` and JSON output mask the password; the real value
    is only available from :meth:`get_secret_value`, so it cannot slip into
    an f-string or a log line by accident.
    """

    def _display(self) -> str:  # type: ignore[override]
        return mask_url(self.get_secret_value())

    def __str__(self) -> str:
        return self._display()

    @property
    def masked(self) -> str:
        return self._display()


class BackendSettings(BaseSettings):
    """Base of a cache backend's ``Settings`` (the ``db.*`` keys)."""

    model_config = SettingsConfigDict(env_prefix="PKGCACHE_DB_", extra="forbid", populate_by_name=True, frozen=True)
    #: the prefix of this model's keys in a config file
    key_prefix: ClassVar[str] = "db."

    graceful_reload: bool = False


class StorageSettings(BaseSettings):
    """Base of a storage's ``Settings`` (the ``storage.*`` keys)."""

    model_config = SettingsConfigDict(
        env_prefix="PKGCACHE_STORAGE_", extra="forbid", populate_by_name=True, frozen=True
    )
    key_prefix: ClassVar[str] = "storage."


def public_dump(model: BaseSettings) -> dict[str, Any]:
    """The model's values with secrets masked, ready for JSON or a terminal."""
    out = model.model_dump(mode="json")
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretUrl):
            out[name] = value.masked  # more useful than pydantic's "**********"
    return out
