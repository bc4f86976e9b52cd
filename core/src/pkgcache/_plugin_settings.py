"""Base classes for the settings models that backends and storages declare.

A plugin's ``Settings`` class lists its keys without their prefix (``url``
for ``db.url``) and is validated by :func:`pkgcache.load_settings` after the
core has chosen the plugin. These are plain pydantic models: they never read
the environment themselves, so the environment enters through one place
only, the core's sources (``load_settings(..., environ=...)``), and an error
from it names its variable. Unknown keys are errors (``extra="forbid"``):
the loader turns them into did-you-mean hints. Inputs are hidden from
pydantic's own error text, so a secret never reaches a traceback.

Rules between keys go in :meth:`BackendSettings.broken_rules`: every broken
rule is reported, each on the key it is about, not only the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ._secrets import SecretUrl

__all__ = ["RULES_ERROR", "BackendSettings", "PluginSettings", "StorageSettings", "public_dump"]

#: the pydantic error type that carries every broken rule of a model
RULES_ERROR = "pkgcache_rules"


class PluginSettings(BaseModel):
    """What backend and storage settings share: strict keys, frozen, hidden inputs, rules."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        frozen=True,
        validate_default=True,
        hide_input_in_errors=True,
        defer_build=True,  # built on first validation: startup pays only for the models it uses
    )
    #: the prefix of this model's keys in a config file
    key_prefix: ClassVar[str] = ""

    def broken_rules(self) -> Iterator[tuple[str | None, str]]:
        """Yield ``(field, message)`` for each rule between fields that fails.

        Runs once every field is valid on its own; ``field`` (without the
        prefix) is the key the message is reported on, None for the section.
        """
        return iter(())

    @model_validator(mode="after")
    def _check_rules(self) -> Any:
        broken = list(self.broken_rules())
        if broken:
            text = "; ".join(message for _, message in broken)
            raise PydanticCustomError(RULES_ERROR, "{text}", {"text": text, "rules": broken})
        return self


class BackendSettings(PluginSettings):
    """Base of a cache backend's ``Settings`` (the ``db.*`` keys)."""

    key_prefix: ClassVar[str] = "db."

    graceful_reload: bool = Field(
        False,
        description="Reload by reconciling in place (read only what changed, keep what did not) "
        "instead of replacing every row",
    )


class StorageSettings(PluginSettings):
    """Base of a storage's ``Settings`` (the ``storage.*`` keys)."""

    key_prefix: ClassVar[str] = "storage."

    def unreadable(self) -> Iterator[tuple[str, str]]:
        """Yield ``(field, message)`` for what would stop a reload from reading this storage,
        checked without the network (a missing folder).

        ``pkgcache validate`` reports these as problems of the key;
        :func:`pkgcache.load_settings` does not, so that a configuration can be
        loaded before its folder exists (the first upload creates it).
        """
        return iter(())


def public_dump(model: BaseModel) -> dict[str, Any]:
    """The model's values with secrets masked, ready for JSON or a terminal."""
    out = model.model_dump(mode="json")
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretUrl):
            out[name] = value.masked  # more useful than pydantic's "**********"
    return out
