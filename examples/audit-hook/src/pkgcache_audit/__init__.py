"""An example hook plugin: an audit log line for every saved and cleared package.

Registered through the ``pkgcache.hooks`` entry point (see ``pyproject.toml``).
It writes JSON lines to the file named by ``PKGCACHE_AUDIT_LOG`` and does
nothing when that variable is unset. It also adds one validation rule: the
log's folder must exist, checked by ``pkgcache validate``.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pkgcache import hookimpl

_lock = threading.Lock()


def _log(event: str, **fields: Any) -> None:
    target = os.environ.get("PKGCACHE_AUDIT_LOG")
    if not target:
        return
    line = json.dumps({"time": datetime.now(timezone.utc).isoformat(), "event": event, **fields}, ensure_ascii=False)
    with _lock, open(target, "a", encoding="utf-8") as out:
        out.write(line + "\n")


@hookimpl
def pkgcache_package_saved(cache: Any, package: Any) -> None:
    _log("saved", backend=type(cache).__name__, filename=package.filename, name=package.name, version=package.version)


@hookimpl
def pkgcache_package_cleared(cache: Any, package: Any) -> None:
    _log("cleared", backend=type(cache).__name__, filename=package.filename, name=package.name)


@hookimpl
def pkgcache_reload_finished(cache: Any, result: Any) -> None:
    _log("reloaded", backend=type(cache).__name__, **{k: v for k, v in result.as_dict().items() if k != "skipped"})


@hookimpl
def pkgcache_validate_settings(settings: Any, raw: dict[str, Any]) -> list[tuple[str | None, str]]:
    target = os.environ.get("PKGCACHE_AUDIT_LOG")
    if target and not Path(target).parent.is_dir():
        return [(None, f"PKGCACHE_AUDIT_LOG={target!r}: its folder does not exist")]
    return []
