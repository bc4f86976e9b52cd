"""The server's keys, pypicloud's names, read from the same config file as the cache's.

``pkgcache.load_settings`` validates ``pypi.db``, ``db.*`` and ``storage.*`` and
keeps the section's other keys in ``Settings.extra``; this model validates
the ones an index server reads, with the same one-line messages
(``FILE:LINE: KEY: message``). Keys it does not know are left alone: a
pypicloud config file holds many (``pyramid.*``, ``session.*``) that mean
nothing here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pkgcache import ConfigError, Problem, Settings

__all__ = ["ServerSettings", "server_settings"]

#: the keys below, as written in the config file -> field names
_KEYS = {
    "pypi.default_read": "default_read",
    "pypi.default_write": "default_write",
    "pypi.allow_overwrite": "allow_overwrite",
    "pypi.fallback": "fallback",
    "pypi.fallback_url": "fallback_url",
    "pypi.package_max_age": "package_max_age",
    "pypi.page_max_age": "page_max_age",
    "pypi.reload_interval": "reload_interval",
    "pypi.max_upload_bytes": "max_upload_bytes",
    "auth.admins": "admins",
    "serve.threads": "threads",
}


def _words(value: Any) -> Any:
    """pypicloud's lists: words separated by spaces, commas or new lines."""
    if isinstance(value, str):
        return [w for w in value.replace(",", " ").split() if w]
    return value


class ServerSettings(BaseModel):
    """What ``pkgcache serve`` reads; every field has pypicloud's meaning and default
    unless its description says otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_read: list[str] = Field(
        ["everyone"], description="Who may read: everyone, authenticated (pypicloud's principals)"
    )
    default_write: list[str] = Field(["authenticated"], description="Who may upload: authenticated, everyone")
    allow_overwrite: bool = Field(False, description="An upload may replace an existing file (else 409)")
    fallback: Literal["redirect", "none"] = Field(
        "redirect", description="A project the index lacks: redirect to fallback_url, or none (404)"
    )
    fallback_url: str = Field("https://pypi.org/simple", description="Where a redirect fallback points")
    package_max_age: int = Field(31536000, ge=0, description="Cache-Control max-age of files, in seconds")
    page_max_age: int = Field(
        0, ge=0, description="Cache-Control max-age of index pages, in seconds (0: revalidate with the ETag)"
    )
    reload_interval: float | None = Field(
        None, gt=0, description="Seconds between graceful reloads (one server at a time); none when unset"
    )
    max_upload_bytes: int = Field(100 << 20, gt=0, description="The largest upload accepted (413 beyond)")
    admins: list[str] = Field([], description="User names that may read and write everything")
    threads: int = Field(
        2,
        ge=1,
        le=256,
        description=(
            "Cache calls each worker runs at once (pkgcache's key). Few is fastest on a near cache: more "
            "threads only contend for the interpreter; raise it for a far one (DynamoDB, a remote database)"
        ),
    )
    #: ``user.<name>`` = password hash, as pypicloud's config access backend writes it
    users: dict[str, str] = Field({}, repr=False)

    _lists = field_validator("default_read", "default_write", "admins", mode="before")(_words)

    @field_validator("fallback", mode="before")
    @classmethod
    def _fallback(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip() in ("cache", "mirror"):
            raise ValueError(f"{value.strip()!r} is not served here: use redirect or none")
        return value.strip() if isinstance(value, str) else value


def server_settings(settings: Settings) -> ServerSettings:
    """The server's settings from the keys ``load_settings`` left in ``settings.extra``;
    a bad value raises :class:`~pkgcache.ConfigError` naming the key, file and line."""
    values: dict[str, Any] = {}
    users: dict[str, str] = {}
    for key, value in settings.extra.items():
        if key in _KEYS:
            values[_KEYS[key]] = value
        elif key.startswith("user.") and len(key) > len("user."):
            users[key[len("user.") :]] = str(value)
    try:
        return ServerSettings.model_validate({**values, "users": users})
    except ValidationError as err:
        fields = {field: key for key, field in _KEYS.items()}
        problems = []
        for error in err.errors(include_url=False, include_input=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            key = fields.get(field, field)
            file, line = settings.origins.get(key, (settings.source, None))
            message = error["msg"].removeprefix("Value error, ")
            problems.append(Problem(key, message, file, line))
        raise ConfigError(problems) from None
