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
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._plugin_settings import RULES_ERROR, BackendSettings, StorageSettings, public_dump
from ._sources import Value, read_env, read_file, read_mapping
from .exceptions import ConfigError, Problem
from .registry import (
    BACKENDS_GROUP,
    STORAGES_GROUP,
    driver_settings,
    load_backend,
    load_backend_settings,
    load_storage,
    load_storage_settings,
    resolve_name,
)

__all__ = ["CoreSettings", "Settings", "json_schema", "load_settings"]

Source = str | os.PathLike[str] | Mapping[str, Any] | None


class CoreSettings(BaseModel):
    """The keys that choose the plugins; everything else belongs to a plugin."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, hide_input_in_errors=True)

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
    """Validated configuration: which plugins, and each one's settings model.

    ``backend_class`` and ``storage_class`` are imported on first use: a
    plugin that declares its settings model alone (see :mod:`pkgcache.registry`)
    is validated without importing its driver, so ``pkgcache validate`` never
    pays for SQLAlchemy or boto3. A driver that then fails to load raises
    :class:`~pkgcache.ConfigError` on ``pypi.db`` or ``pypi.storage``, at the
    line the name was read from.
    """

    backend: str
    storage_name: str
    db: BackendSettings
    storage: StorageSettings
    source: str | None = None
    #: each key read (``pypi.db`` and ``pypi.storage`` always) -> (file, line) it was read from
    origins: Mapping[str, tuple[str | None, int | None]] = dataclass_field(default_factory=dict, compare=False)
    #: drivers already imported while validating (a plugin without a settings entry point)
    loaded: Mapping[str, type] = dataclass_field(default_factory=dict, compare=False)
    #: the other keys of the section, as written (an index server's ``pypi.*``, ``user.*``,
    #: ``auth.*``): left for the program that reads them to validate; never shown whole
    extra: Mapping[str, Any] = dataclass_field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def backend_class(self) -> type:
        """The backend's Cache class (imported now if validating did not need it)."""
        return self._driver("pypi.db", load_backend, self.backend)

    @cached_property
    def storage_class(self) -> type:
        """The storage's Storage class (imported now if validating did not need it)."""
        return self._driver("pypi.storage", load_storage, self.storage_name)

    def _driver(self, key: str, loader: Callable[[str], type], name: str) -> type:
        if key in self.loaded:
            return self.loaded[key]
        try:
            return loader(name)
        except ConfigError as err:
            file, line = self.origins.get(key, (self.source, None))
            raise type(err)([Problem(p.key, p.message, file, line) for p in err.problems]) from err

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


#: what to write instead, for pydantic's errors about a value's type: its own
#: message says what is wrong, not what would be right
_REMEDIES = {
    "bool_parsing": "write true or false (also yes/no, on/off, 1/0)",
    "bool_type": "write true or false (also yes/no, on/off, 1/0)",
    "int_parsing": "write a whole number, such as 10",
    "int_type": "write a whole number, such as 10",
    "int_from_float": "write a whole number, such as 10",
    "float_parsing": "write a number, such as 2.5",
    "float_type": "write a number, such as 2.5",
}


def _message(error: Mapping[str, Any]) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    remedy = _REMEDIES.get(str(error["type"]))
    return f"{message}: {remedy}" if remedy else message


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


class _Section:
    """One plugin's keys (``db.*`` or ``storage.*``) and where each was read."""

    def __init__(
        self, model: type[BaseModel], prefix: str, owner: str, values: Mapping[str, Value], source: str | None
    ):
        self.model, self.prefix, self.owner, self.source = model, prefix, owner, source
        self.values = {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}

    def problem(self, field: str | None, message: str) -> Problem:
        """A problem of ``field`` (a field name or the key as written), at the line of the key as written."""
        written = self._written(field) if field else None
        origin = self.values.get(written) if written else None
        key = f"{self.prefix}{written}" if written else None
        return Problem(key, message, origin.file if origin else self.source, origin.line if origin else None)

    def _written(self, field: str) -> str:
        if field in self.values or field not in self.model.model_fields:
            return field
        alias = self.model.model_fields[field].validation_alias
        choices = [c for c in getattr(alias, "choices", [alias]) if isinstance(c, str)]
        return next((c for c in choices if c in self.values), field)

    def field_message(self, error: Mapping[str, Any], field: str | None) -> str:
        if error["type"] == "extra_forbidden":
            known = _known_keys(self.model)
            close = difflib.get_close_matches(field or "", known, n=1)
            hint = (
                f"did you mean {self.prefix + close[0]!r}?"
                if close
                else "known keys: " + ", ".join(self.prefix + k for k in known)
            )
            return f"unknown key for {self.owner}: {hint}"
        if error["type"] == "missing" and field in self.model.model_fields:
            description = self.model.model_fields[field].description
            return "required" + (f": {description}" if description else "")
        return _message(error)

    def validate(self, problems: list[Problem]) -> Any:
        """The validated model, or None with every problem added to ``problems``.

        Rules between keys run only once every key is valid on its own, so
        when some keys fail, the rules are checked again without them (their
        defaults stand in) and the rules about the other keys are reported
        too: a rule is about the key it is reported on and every key its
        message names.
        """
        raw = {k: v.value for k, v in self.values.items()}
        failed: set[str] = set()
        try:
            return self.model.model_validate(raw)
        except ValidationError as err:
            errors = err.errors(include_url=False, include_input=False)
            meant = self._meant(errors)
            for error in errors:
                if error["type"] == "missing" and error["loc"] and str(error["loc"][0]) in meant:
                    failed.add(str(error["loc"][0]))
                    continue  # "db.ulr: did you mean 'db.url'?" says it already: one line, not two
                problems.extend(self._problems(error, failed))
        if failed:
            rest = {k: v for k, v in raw.items() if k not in failed}
            try:
                self.model.model_validate(rest)
            except ValidationError as err:
                errors = err.errors(include_url=False, include_input=False)
                for error in errors:
                    if error["type"] == RULES_ERROR:
                        problems.extend(self._problems(error, failed, only_rules=True))
                if all(e["type"] == "missing" and e["loc"] and str(e["loc"][0]) in failed for e in errors):
                    problems.extend(self._rules_unvalidated(rest, failed))
        return None

    def _meant(self, errors: list[Any]) -> set[str]:
        """The known keys that an unknown key written here was most likely meant to be."""
        known = _known_keys(self.model)
        meant = set()
        for error in errors:
            if error["type"] == "extra_forbidden" and error["loc"]:
                meant.update(difflib.get_close_matches(str(error["loc"][0]), known, n=1))
        fields = {}
        for name, info in self.model.model_fields.items():
            alias = info.validation_alias
            for choice in [name, *(c for c in getattr(alias, "choices", [alias]) if isinstance(c, str))]:
                fields[choice] = name
        return {fields.get(key, key) for key in meant}

    def _rules_unvalidated(self, rest: dict[str, Any], failed: set[str]) -> list[Problem]:
        """The rules about the other keys when a required key failed, so that no default can
        stand in for it and the model cannot be built: judged on the keys as written,
        unconverted; a rule that cannot be judged that way is left for the next run."""
        model = self.model.model_construct(**rest)
        try:
            broken = list(model.broken_rules()) if hasattr(model, "broken_rules") else []
        except Exception:  # a rule that needs the failed key, or converted values
            return []
        return [self.problem(f, m) for f, m in broken if not self._involves(f, m, failed)]

    def _involves(self, field: str | None, message: str, failed: set[str]) -> bool:
        """Whether a rule is about a key that failed on its own (then it was judged on a default)."""
        return field in failed or any(re.search(rf"\b{re.escape(self.prefix + f)}\b", message) for f in failed)

    def _problems(self, error: Mapping[str, Any], failed: set[str], only_rules: bool = False) -> list[Problem]:
        if error["type"] == RULES_ERROR:
            rules = error["ctx"]["rules"]
            return [
                self.problem(field, message)
                for field, message in rules
                if not (only_rules and self._involves(field, message, failed))
            ]
        field = str(error["loc"][0]) if error["loc"] else None
        if field:
            failed.add(field)
        return [self.problem(field, self.field_message(error, field))]


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.file or "", p.line or 0))


def validate(values: Mapping[str, Value], source: str | None = None, readable: bool = False) -> Settings:
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

    models: dict[str, Any] = {}
    loaded: dict[str, type] = {}
    for key, name, group in (("pypi.db", core.backend, BACKENDS_GROUP), ("pypi.storage", core.storage, STORAGES_GROUP)):
        try:
            models[key], driver = driver_settings(group, name)
        except ConfigError as err:
            origin = values.get(key)
            for p in err.problems:
                problems.append(
                    Problem(p.key, p.message, origin.file if origin else source, origin.line if origin else None)
                )
        else:
            if driver is not None:
                loaded[key] = driver

    backend_name, storage_name = resolve_name(core.backend), resolve_name(core.storage)
    db = storage = None
    if "pypi.db" in models:
        db = _Section(models["pypi.db"], "db.", f"backend {backend_name!r}", values, source).validate(problems)
    if "pypi.storage" in models:
        storage = _Section(models["pypi.storage"], "storage.", f"storage {storage_name!r}", values, source).validate(
            problems
        )
    if problems or db is None or storage is None:
        raise ConfigError(_sorted(problems))

    origins = {
        key: (origin.file, origin.line) if origin else (source, None)
        for key in ("pypi.db", "pypi.storage", *values)
        for origin in [values.get(key)]
    }
    extra = {k: v.value for k, v in values.items() if not k.startswith(("db.", "storage.", "pypi.db", "pypi.storage"))}
    settings = Settings(backend_name, storage_name, db, storage, source, origins, loaded, extra)
    if readable:
        for field_name, message in storage.unreadable():
            origin = values.get(f"storage.{field_name}")
            problems.append(
                Problem(
                    f"storage.{field_name}", message, origin.file if origin else source, origin.line if origin else None
                )
            )
    _run_hooks(settings, values, source, problems)
    if problems:
        raise ConfigError(_sorted(problems))
    return settings


def _run_hooks(settings: Settings, values: Mapping[str, Value], source: str | None, problems: list[Problem]) -> None:
    from ._hooks import default_plugin_manager, hook_conflicts

    problems.extend(Problem(None, message, source) for message in hook_conflicts())
    raw = {k: v.value for k, v in values.items()}
    for found in default_plugin_manager().hook.pkgcache_validate_settings(settings=settings, raw=raw):
        for key, message in found or ():
            origin = values.get(key) if key else None
            problems.append(Problem(key, message, origin.file if origin else source, origin.line if origin else None))


def load_settings(
    source: Source = None, *, environ: Mapping[str, str] | None = None, readable: bool = False
) -> Settings:
    """Read, merge and validate configuration.

    ``source`` is the path of an INI or TOML file, a mapping of keys
    (``{"pypi.db": "sql", "db.url": "sqlite://"}``) or None for the
    environment alone. Environment variables (``PKGCACHE_DB_URL``,
    ``PPC_DB_URL``; ``environ`` defaults to ``os.environ``) override the
    source. With ``readable=True`` (what ``pkgcache validate`` asks), what
    would stop a reload from reading the storage, such as a missing folder,
    is a problem too. Raises :class:`~pkgcache.ConfigError` listing every problem.
    """
    values: dict[str, Value] = {}
    shown: str | None = None
    if isinstance(source, Mapping):
        values.update(read_mapping(source))
    elif source is not None:
        shown = os.fspath(source)
        values.update(read_file(source))
    values.update(read_env(os.environ if environ is None else environ))
    return validate(values, shown, readable)


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
    add(load_storage_settings(storage), "storage.")
    if backend is not None:
        add(load_backend_settings(backend), "db.")
    title = f"pkgcache settings ({backend} backend, {storage} storage)" if backend else "pkgcache core settings"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": properties,
        "required": required,
    }
