"""Loading and validating configuration, in two phases.

Phase one reads the core keys (``pypi.db``, ``pypi.storage``) and finds the
chosen backend and storage. Phase two validates the ``db.*`` keys with the
backend's own ``Settings`` model and the ``storage.*`` keys with the
storage's, then runs the validation hooks. Every problem of every phase is
collected and raised at once in one :class:`~pkgcache.ConfigError`, each
with the file and line its value came from. Other keys (a web server's own
settings) are left alone.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._models import BackendSettings, StorageSettings, public_dump
from ._sources import Value, read_env, read_file, read_mapping
from .exceptions import ConfigError, Problem
from .registry import load_backend, load_storage, resolve_name

__all__ = ["CoreSettings", "Settings", "json_schema", "load_settings"]

Source = str | os.PathLike[str] | Mapping[str, Any] | None


class CoreSettings(BaseSettings):
    """The keys that choose the plugins; everything else belongs to a plugin."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    backend: str = Field(
        "sql",
        alias="pypi.db",
        description="Cache backend: sql, redis, dynamo, memory, an entry point name, "
        "pkg.module:Class, or a pypicloud class path.",
    )
    storage: str = Field(
        "file", alias="pypi.storage", description="Storage: file, an entry point name or pkg.module:Class."
    )


@dataclass(frozen=True, repr=False)
class Settings:
    """Validated configuration: which plugins, and each one's settings model."""

    backend: str
    storage_name: str
    db: BackendSettings
    storage: StorageSettings
    backend_class: type
    storage_class: type
    source: str | None = None

    def public_dict(self) -> dict[str, Any]:
        """Everything, secrets masked: what ``pkgcache validate --format json`` shows."""
        return {
            "backend": self.backend,
            "storage": self.storage_name,
            "db": public_dump(self.db),
            "storage_settings": public_dump(self.storage),
        }

    def __repr__(self) -> str:
        return f"Settings(backend={self.backend!r}, db={self.db!r}, storage={self.storage_name!r}, {self.storage!r})"


def _message(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _known_keys(model: type[BaseModel]) -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(name)
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        if choices:
            keys.extend(str(c) for c in choices if isinstance(c, str))
        elif isinstance(alias, str):
            keys.append(alias)
    return sorted(set(keys))


def _validate_section(
    model: type[BaseModel],
    prefix: str,
    owner: str,
    values: Mapping[str, Value],
    source: str | None,
    problems: list[Problem],
) -> Any:
    section = {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}
    try:
        return model.model_validate({k: v.value for k, v in section.items()})
    except ValidationError as err:
        known = _known_keys(model)
        for error in err.errors(include_url=False, include_input=False):
            field = str(error["loc"][0]) if error["loc"] else None
            origin = section.get(field) if field else None
            key = f"{prefix}{field}" if field else None
            if error["type"] == "extra_forbidden" and field:
                close = difflib.get_close_matches(field, known, n=1)
                hint = (
                    f"did you mean {prefix + close[0]!r}?"
                    if close
                    else "known keys: " + ", ".join(prefix + k for k in known)
                )
                message = f"unknown key for {owner}: {hint}"
            elif error["type"] == "missing":
                description = model.model_fields[field].description if field in model.model_fields else None
                message = "required" + (f": {description}" if description else "")
            else:
                message = _message(error)
            problems.append(Problem(key, message, origin.file if origin else source, origin.line if origin else None))
    return None


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.file or "", p.line or 0))


def validate(values: Mapping[str, Value], source: str | None = None) -> Settings:
    """Validate keys already read (see :func:`load_settings`)."""
    problems: list[Problem] = []
    core_values = {k: v.value for k, v in values.items() if k in ("pypi.db", "pypi.storage")}
    try:
        core = CoreSettings.model_validate(core_values)
    except ValidationError as err:
        for error in err.errors(include_url=False, include_input=False):
            key = str(error["loc"][0])
            origin = values.get(key)
            problems.append(
                Problem(key, _message(error), origin.file if origin else source, origin.line if origin else None)
            )
        raise ConfigError(_sorted(problems)) from None

    classes: dict[str, Any] = {}
    for key, name, loader in (("pypi.db", core.backend, load_backend), ("pypi.storage", core.storage, load_storage)):
        try:
            classes[key] = loader(name)
        except ConfigError as err:
            origin = values.get(key)
            for p in err.problems:
                problems.append(
                    Problem(p.key, p.message, origin.file if origin else source, origin.line if origin else None)
                )

    backend_name, storage_name = resolve_name(core.backend), resolve_name(core.storage)
    db = storage = None
    if "pypi.db" in classes:
        db = _validate_section(
            classes["pypi.db"].Settings, "db.", f"backend {backend_name!r}", values, source, problems
        )
    if "pypi.storage" in classes:
        storage = _validate_section(
            classes["pypi.storage"].Settings, "storage.", f"storage {storage_name!r}", values, source, problems
        )
    if problems or db is None or storage is None:
        raise ConfigError(_sorted(problems))

    settings = Settings(backend_name, storage_name, db, storage, classes["pypi.db"], classes["pypi.storage"], source)
    _run_hooks(settings, values, source, problems)
    if problems:
        raise ConfigError(_sorted(problems))
    return settings


def _run_hooks(settings: Settings, values: Mapping[str, Value], source: str | None, problems: list[Problem]) -> None:
    from ._hooks import default_plugin_manager

    raw = {k: v.value for k, v in values.items()}
    for found in default_plugin_manager().hook.pkgcache_validate_settings(settings=settings, raw=raw):
        for key, message in found or ():
            origin = values.get(key) if key else None
            problems.append(Problem(key, message, origin.file if origin else source, origin.line if origin else None))


def load_settings(source: Source = None, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, merge and validate configuration.

    ``source`` is the path of an INI or TOML file, a mapping of keys
    (``{"pypi.db": "sql", "db.url": "sqlite://"}``) or None for the
    environment alone. Environment variables (``PKGCACHE_DB_URL``,
    ``PPC_DB_URL``; ``environ`` defaults to ``os.environ``) override the
    source. Raises :class:`~pkgcache.ConfigError` listing every problem.
    """
    values: dict[str, Value] = {}
    shown: str | None = None
    if isinstance(source, Mapping):
        values.update(read_mapping(source))
    elif source is not None:
        shown = os.fspath(source)
        values.update(read_file(source))
    values.update(read_env(os.environ if environ is None else environ))
    return validate(values, shown)


def json_schema(backend: str | None = None, storage: str = "file") -> dict[str, Any]:
    """JSON Schema of the configuration keys, with the backend's ``db.*`` keys when named."""
    properties: dict[str, Any] = {}
    required: list[str] = []

    def add(model: type[BaseModel], prefix: str) -> None:
        schema = model.model_json_schema(by_alias=True)
        for name, prop in schema.get("properties", {}).items():
            properties[prefix + name] = prop
        required.extend(prefix + name for name in schema.get("required", []))

    add(CoreSettings, "")
    add(load_storage(storage).Settings, "storage.")
    if backend is not None:
        add(load_backend(backend).Settings, "db.")
    title = f"pkgcache settings ({backend} backend, {storage} storage)" if backend else "pkgcache core settings"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": properties,
        "required": required,
    }
