"""Finding and loading backends and storages by name.

Drivers are found through entry points (groups ``pkgcache.backends`` and
``pkgcache.storages``) and loaded with stevedore's ``DriverManager``, which
imports only the driver asked for. Listing what is installed reads entry
point names without importing anything, so ``pkgcache backends`` and
``pkgcache validate`` never pull in SQLAlchemy, redis or boto3.

A name can also be a dotted path (``pkg.module:Class`` or
``pkg.module.Class``), or one of pypicloud's own class paths, which map to
ours. A known backend that is not installed gets ``pip install`` advice.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar, cast

from pydantic import BaseModel
from stevedore import DriverManager

from .exceptions import BackendNotInstalled, ConfigError, Problem

__all__ = [
    "BACKENDS_GROUP",
    "KNOWN_BACKENDS",
    "KNOWN_STORAGES",
    "STORAGES_GROUP",
    "DriverInfo",
    "describe_drivers",
    "installed",
    "load_backend",
    "load_storage",
    "resolve_name",
]

BACKENDS_GROUP = "pkgcache.backends"
STORAGES_GROUP = "pkgcache.storages"


@dataclass(frozen=True)
class Known:
    """A driver we know of, whether installed or not."""

    target: str
    distribution: str


#: name -> where it lives and which distribution brings it (sorted by name)
KNOWN_BACKENDS: dict[str, Known] = {
    "dynamo": Known("pkgcache_dynamo:DynamoCache", "pkgcache-dynamo"),
    "memory": Known("pkgcache.memory:MemoryCache", "pkgcache"),
    "redis": Known("pkgcache_redis:RedisCache", "pkgcache-redis"),
    "sql": Known("pkgcache_sql:SQLCache", "pkgcache-sql"),
}
KNOWN_STORAGES: dict[str, Known] = {
    "file": Known("pkgcache.file_storage:FileStorage", "pkgcache"),
}

#: pypicloud's class paths, so that its config files run unchanged
PYPICLOUD_NAMES: dict[str, str] = {
    "pypicloud.cache.SQLCache": "sql",
    "pypicloud.cache.sql.SQLCache": "sql",
    "pypicloud.cache.RedisCache": "redis",
    "pypicloud.cache.redis_cache.RedisCache": "redis",
    "pypicloud.cache.dynamo.DynamoCache": "dynamo",
    "pypicloud.storage.FileStorage": "file",
    "pypicloud.storage.files.FileStorage": "file",
}

_KIND = {BACKENDS_GROUP: ("backend", "pypi.db"), STORAGES_GROUP: ("storage", "pypi.storage")}


@cache
def installed(group: str) -> dict[str, EntryPoint]:
    """Installed drivers of ``group`` by name, without importing them (scanned once)."""
    return {ep.name: ep for ep in sorted(entry_points(group=group), key=lambda ep: ep.name)}


def resolve_name(value: str) -> str:
    """Map pypicloud's class paths to our names; other values unchanged."""
    value = value.strip()
    return PYPICLOUD_NAMES.get(value, value)


def _is_path(name: str) -> bool:
    return ":" in name or "." in name


def _import_path(path: str, key: str) -> Any:
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise ConfigError(Problem(key, f"cannot import {path!r}: {err}")) from err


def _check_class(obj: Any, base: type, group: str, name: str) -> Any:
    kind, key = _KIND[group]
    if not isinstance(obj, type) or not issubclass(obj, base):
        raise ConfigError(Problem(key, f"{kind} {name!r} is {obj!r}, not a subclass of pkgcache.{base.__name__}"))
    settings = getattr(obj, "Settings", None)
    if not (isinstance(settings, type) and issubclass(settings, BaseModel)):
        raise ConfigError(Problem(key, f"{kind} {name!r} has no pydantic model as its Settings attribute"))
    return obj


def _unknown(group: str, name: str, known: dict[str, Known]) -> ConfigError:
    kind, key = _KIND[group]
    if name in known:
        dist = known[name].distribution
        return BackendNotInstalled(Problem(key, f"{kind} {name!r} is not installed: pip install {dist}"))
    choices = sorted(set(installed(group)) | set(known))
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return ConfigError(
        Problem(
            key, f"unknown {kind} {name!r}: {hint}choose one of {', '.join(choices)}, or a dotted path pkg.module:Class"
        )
    )


T = TypeVar("T")


def _load(group: str, name: str, base: type[T], known: dict[str, Known]) -> type[T]:
    kind, key = _KIND[group]
    name = resolve_name(name)
    if name not in installed(group):
        if _is_path(name):
            return cast("type[T]", _check_class(_import_path(name, key), base, group, name))
        raise _unknown(group, name, known)

    def failed(_manager: object, ep: EntryPoint, err: BaseException) -> None:
        hint = f" (pip install {known[name].distribution})" if name in known and isinstance(err, ImportError) else ""
        raise ConfigError(Problem(key, f"{kind} {name!r} ({ep.value}) failed to load: {err}{hint}")) from err

    manager: Any = DriverManager(group, name, invoke_on_load=False, on_load_failure_callback=failed)
    return cast("type[T]", _check_class(manager.driver, base, group, name))


def load_backend(name: str) -> type[Any]:
    """The Cache class of backend ``name`` (entry point, pypicloud path or dotted path)."""
    from .cache import Cache

    return _load(BACKENDS_GROUP, name, Cache, KNOWN_BACKENDS)


def load_storage(name: str) -> type[Any]:
    """The Storage class of storage ``name``."""
    from .storage import Storage

    return _load(STORAGES_GROUP, name, Storage, KNOWN_STORAGES)


@dataclass(frozen=True)
class DriverInfo:
    """One row of ``pkgcache backends``."""

    kind: str
    name: str
    target: str
    distribution: str | None
    version: str | None
    status: str  # "installed", "broken: <why>" or "not installed"
    install: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _status(ep: EntryPoint) -> str:
    module = ep.value.partition(":")[0].strip()
    try:
        found = importlib.util.find_spec(module.split(".")[0]) is not None
    except (ImportError, ValueError) as err:
        return f"broken: {err}"
    return "installed" if found else f"broken: module {module!r} is not importable"


def _loaded_status(group: str, name: str) -> str:
    """Import the driver (guarded): "installed", or "broken: <why>"."""
    loader = load_backend if group == BACKENDS_GROUP else load_storage
    try:
        loader(name)
    except ConfigError as err:
        return "broken: " + "; ".join(p.message for p in err.problems)
    except Exception as err:  # a plugin's own import-time failure must not stop the listing
        return f"broken: {type(err).__name__}: {err}"
    return "installed"


def describe_drivers(group: str, check: bool = False) -> list[DriverInfo]:
    """Installed and known drivers of ``group``.

    Without ``check`` nothing is imported (a driver whose module cannot be
    found is still shown as broken); with ``check`` each installed driver is
    loaded in turn, so one that fails to import, is not a Cache/Storage or
    has no pydantic ``Settings`` is shown as broken with the reason, and
    the others are listed all the same.
    """
    kind = _KIND[group][0]
    known = KNOWN_BACKENDS if group == BACKENDS_GROUP else KNOWN_STORAGES
    rows = []
    for name, ep in installed(group).items():
        dist = ep.dist
        status = _status(ep)
        if check and status == "installed":
            status = _loaded_status(group, name)
        rows.append(
            DriverInfo(kind, name, ep.value, dist.name if dist else None, dist.version if dist else None, status)
        )
    for name, info in known.items():
        if name not in installed(group):
            rows.append(
                DriverInfo(
                    kind,
                    name,
                    info.target,
                    info.distribution,
                    None,
                    "not installed",
                    f"pip install {info.distribution}",
                )
            )
    return sorted(rows, key=lambda r: r.name)
