"""Hook plugins: events on save, clear and reload; extra validation rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pkgcache import ConfigError, hookimpl, load_settings
from pkgcache._hooks import default_plugin_manager, new_plugin_manager
from pkgcache.file_storage import FileStorage
from pkgcache.memory import MemoryCache
from pkgcache.testing import make_package, write_wheel


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    @hookimpl
    def pkgcache_package_saved(self, package: Any) -> None:
        self.events.append(("saved", package.filename))

    @hookimpl
    def pkgcache_package_cleared(self, package: Any) -> None:
        self.events.append(("cleared", package.filename))

    @hookimpl
    def pkgcache_reload_finished(self, result: Any) -> None:
        self.events.append(("reloaded", result.added))


def test_events_fire(tmp_path: Path) -> None:
    pm = new_plugin_manager(load_entry_points=False)
    recorder = Recorder()
    pm.register(recorder)
    cache = MemoryCache(MemoryCache.Settings(), FileStorage(FileStorage.Settings(dir=tmp_path)), hooks=pm)
    one, two = make_package("a", "1"), make_package("a", "2")
    cache.save(one)
    cache.save_many([two])
    cache.clear(one)
    write_wheel(tmp_path, "w", "1.0")
    cache.reload_from_storage()
    assert recorder.events == [
        ("saved", one.filename),
        ("saved", two.filename),
        ("cleared", one.filename),
        ("reloaded", 1),
    ]


class NoDevVersions:
    @hookimpl
    def pkgcache_validate_settings(self, raw: dict[str, Any]) -> list[tuple[str | None, str]]:
        if str(raw.get("storage.dir", "")).startswith("/tmp"):
            return [("storage.dir", "must not be under /tmp: it is wiped on reboot")]
        return []


@pytest.fixture
def rule() -> Iterator[None]:
    pm = default_plugin_manager()
    plugin = NoDevVersions()
    pm.register(plugin)
    try:
        yield
    finally:
        pm.unregister(plugin)


@pytest.mark.usefixtures("rule")
def test_validation_hook_adds_problems_with_location(tmp_path: Path) -> None:
    config = tmp_path / "c.ini"
    config.write_text("[app:main]\npypi.db = memory\nstorage.dir = /tmp/pkgs\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ={})
    assert str(info.value) == f"{config}:3: storage.dir: must not be under /tmp: it is wiped on reboot"
    assert load_settings({"pypi.db": "memory", "storage.dir": "/srv"}, environ={}).backend == "memory"
