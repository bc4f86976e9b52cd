"""Finding and loading backends and storages by name.

Drivers are found through entry points (groups ``pkgcache.backends`` and
``pkgcache.storages``) and loaded with stevedore's ``DriverManager``, which
imports only the driver asked for. Listing what is installed reads entry
point names without importing anything, so ``pkgcache backends`` never
pulls in SQLAlchemy, redis or boto3.

A driver may also declare its settings model alone, under the same name in
``pkgcache.backend_settings`` or ``pkgcache.storage_settings``, from the same
distribution: validating a configuration then imports that model only, not
the driver (``pkgcache validate`` on a SQL config never imports SQLAlchemy),
and the driver is imported when a cache is built. A driver without one has
its class imported to read ``Settings``.

A name can also be a dotted path (``pkg.module:Class`` or
``pkg.module.Class``, resolved by :func:`pkgutil.resolve_name`), or one of
pypicloud's own class paths, which map to ours. A known backend that is not
installed gets ``pip install`` advice; a name that two distributions declare
is an error naming both (stevedore would only say "multiple matches").
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import pkgutil
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit
from urllib.request import url2pathname

from pydantic import BaseModel

from ._entry_points import conflict, declared, distribution_of, installed
from .exceptions import BackendNotInstalled, ConfigError, Problem

__all__ = [
    "BACKENDS_GROUP",
    "BACKEND_SETTINGS_GROUP",
    "KNOWN_BACKENDS",
    "KNOWN_STORAGES",
    "STORAGES_GROUP",
    "STORAGE_SETTINGS_GROUP",
    "DriverInfo",
    "conflict",
    "declared",
    "describe_drivers",
    "describe_hooks",
    "driver_settings",
    "install_advice",
    "installed",
    "load_backend",
    "load_backend_settings",
    "load_storage",
    "load_storage_settings",
    "resolve_name",
]

BACKENDS_GROUP = "pkgcache.backends"
STORAGES_GROUP = "pkgcache.storages"
BACKEND_SETTINGS_GROUP = "pkgcache.backend_settings"
STORAGE_SETTINGS_GROUP = "pkgcache.storage_settings"
#: a driver group -> the group where its drivers may declare their settings model alone
SETTINGS_GROUPS = {BACKENDS_GROUP: BACKEND_SETTINGS_GROUP, STORAGES_GROUP: STORAGE_SETTINGS_GROUP}


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
    "s3": Known("pkgcache_s3:S3Storage", "pkgcache-s3"),
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
    "pypicloud.storage.S3Storage": "s3",
    "pypicloud.storage.s3.S3Storage": "s3",
}


def _checkout() -> Path | None:
    """The checkout this ``pkgcache`` was installed from (``pip install ./core``), read from
    its PEP 610 ``direct_url.json``; None when it came from an index."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        text = distribution("pkgcache").read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    url = found.get("url", "") if isinstance(found, dict) else ""
    if "dir_info" not in found or not url.startswith("file://"):
        return None
    return Path(url2pathname(urlsplit(url).path)).parent


def install_advice(distribution: str) -> str:
    """``pip install ...`` that works for the install at hand: from a checkout, the plugin's
    folder beside the core's (the distributions are not published yet); else the name."""
    checkout = _checkout()
    if checkout is not None and distribution.startswith("pkgcache-"):
        folder = checkout / "plugins" / distribution.removeprefix("pkgcache-")
        if (folder / "pyproject.toml").is_file():
            return f"pip install {folder}"
    return f"pip install {distribution}"


_KIND = {BACKENDS_GROUP: ("backend", "pypi.db"), STORAGES_GROUP: ("storage", "pypi.storage")}


def resolve_name(value: str) -> str:
    """Map pypicloud's class paths to our names; other values unchanged."""
    value = value.strip()
    return PYPICLOUD_NAMES.get(value, value)


def _is_path(name: str) -> bool:
    return ":" in name or "." in name


def _import_path(path: str, key: str) -> Any:
    try:
        return pkgutil.resolve_name(path)
    except (ImportError, AttributeError, ValueError) as err:
        raise ConfigError(Problem(key, f"cannot import {path!r}: {err}")) from err


def _check_class(obj: Any, base: type, group: str, name: str) -> Any:
    kind, key = _KIND[group]
    if not isinstance(obj, type) or not issubclass(obj, base):
        raise ConfigError(Problem(key, f"{kind} {name!r} is {obj!r}, not a subclass of pkgcache.{base.__name__}"))
    settings = getattr(obj, "Settings", None)
    if not (isinstance(settings, type) and issubclass(settings, BaseModel)):
        raise ConfigError(Problem(key, f"{kind} {name!r} has no pydantic model as its Settings attribute"))
    ep = _settings_entry_point(group, name)
    if ep is not None and _load_entry_point(ep, group, name) is not settings:
        # validation used the one, the driver is built with the other: they must be one class
        raise ConfigError(
            Problem(
                key,
                f"{kind} {name!r}: its Settings is {settings.__module__}.{settings.__qualname__}, but entry point "
                f"{name!r} of {SETTINGS_GROUPS[group]} names {ep.value}: make them the same class",
            )
        )
    return obj


def _unknown(group: str, name: str, known: dict[str, Known]) -> ConfigError:
    kind, key = _KIND[group]
    if name in known:
        dist = known[name].distribution
        return BackendNotInstalled(Problem(key, f"{kind} {name!r} is not installed: {install_advice(dist)}"))
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
    from stevedore import DriverManager  # only when a driver is loaded: listing needs none of it
    from stevedore.exception import MultipleMatches

    kind, key = _KIND[group]
    name = resolve_name(name)
    if name not in installed(group):
        if _is_path(name):
            return cast("type[T]", _check_class(_import_path(name, key), base, group, name))
        raise _unknown(group, name, known)
    clash = conflict(group, name)
    if clash:
        raise ConfigError(Problem(key, f"{kind} {clash}"))

    def failed(_manager: object, ep: EntryPoint, err: BaseException) -> None:
        hint = (
            f" ({install_advice(known[name].distribution)})" if name in known and isinstance(err, ImportError) else ""
        )
        raise ConfigError(Problem(key, f"{kind} {name!r} ({ep.value}) failed to load: {err}{hint}")) from err

    try:
        manager: Any = DriverManager(group, name, invoke_on_load=False, on_load_failure_callback=failed)
    except MultipleMatches:  # the same distribution twice on sys.path
        raise ConfigError(Problem(key, f"{kind} {name!r} is installed twice on sys.path: uninstall one")) from None
    return cast("type[T]", _check_class(manager.driver, base, group, name))


def _settings_entry_point(group: str, name: str) -> EntryPoint | None:
    """The entry point of ``name``'s settings model alone, when its driver declares one: the
    driver is installed once, and the model is declared once, by the driver's distribution."""
    drivers = declared(group).get(name, [])
    models = declared(SETTINGS_GROUPS[group]).get(name, [])
    if len(drivers) != 1 or len(models) != 1 or distribution_of(drivers[0]) != distribution_of(models[0]):
        return None
    return models[0]


def _load_entry_point(ep: EntryPoint, group: str, name: str) -> Any:
    kind, key = _KIND[group]
    known = KNOWN_BACKENDS if group == BACKENDS_GROUP else KNOWN_STORAGES
    try:
        return ep.load()
    except Exception as err:  # a plugin's own import-time failure is a problem of its key, not a traceback
        hint = (
            f" ({install_advice(known[name].distribution)})" if name in known and isinstance(err, ImportError) else ""
        )
        raise ConfigError(Problem(key, f"{kind} {name!r} ({ep.value}) failed to load: {err}{hint}")) from err


def driver_settings(group: str, name: str) -> tuple[type[BaseModel], type | None]:
    """The settings model of driver ``name`` of ``group``, and the driver class when it had to
    be imported to read it (None when its settings entry point was enough)."""
    kind, key = _KIND[group]
    name = resolve_name(name)
    ep = _settings_entry_point(group, name)
    if ep is None:  # the driver itself carries its model
        driver = load_backend(name) if group == BACKENDS_GROUP else load_storage(name)
        return driver.Settings, driver
    model = _load_entry_point(ep, group, name)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ConfigError(Problem(key, f"{kind} {name!r} has no pydantic model as its Settings attribute"))
    return model, None


def load_backend_settings(name: str) -> type[BaseModel]:
    """The settings model of backend ``name``: from its settings entry point when it
    declares one (the backend itself is not imported), else its class's ``Settings``."""
    return driver_settings(BACKENDS_GROUP, name)[0]


def load_storage_settings(name: str) -> type[BaseModel]:
    """The settings model of storage ``name`` (see :func:`load_backend_settings`)."""
    return driver_settings(STORAGES_GROUP, name)[0]


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
        clash = conflict(group, name)
        status = f"broken: {kind} {clash}" if clash else _status(ep)
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
                    install_advice(info.distribution),
                )
            )
    return sorted(rows, key=lambda r: r.name)


def _hook_status(ep: EntryPoint) -> str:
    """Load one hook plugin alone (guarded): "installed", or "broken: <why>"."""
    from ._hooks import new_plugin_manager

    pm = new_plugin_manager(load_entry_points=False)
    try:
        pm.register(ep.load(), name=ep.name)
        pm.check_pending()
    except Exception as err:  # a plugin's own failure must not stop the listing
        return f"broken: {type(err).__name__}: {err}"
    return "installed"


def describe_hooks(check: bool = False) -> list[DriverInfo]:
    """Installed hook plugins, as :func:`describe_drivers` describes drivers."""
    from ._hooks import HOOKS_GROUP

    rows = []
    for name, eps in declared(HOOKS_GROUP).items():
        ep, dist = eps[0], eps[0].dist
        clash = conflict(HOOKS_GROUP, name)
        status = f"broken: hook plugin {clash}" if clash else _status(ep)
        if check and status == "installed":
            status = _hook_status(ep)
        rows.append(
            DriverInfo("hook", name, ep.value, dist.name if dist else None, dist.version if dist else None, status)
        )
    return rows
