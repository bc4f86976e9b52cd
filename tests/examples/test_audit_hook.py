"""The example hook plugin (examples/audit-hook), loaded from its entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pkgcache import ConfigError, load_cache, load_settings
from pkgcache._hooks import default_plugin_manager
from pkgcache.testing import write_wheel


def test_it_is_loaded_from_its_entry_point() -> None:
    assert default_plugin_manager().get_plugin("audit") is not None


def test_every_save_clear_and_reload_is_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("PKGCACHE_AUDIT_LOG", str(log))
    storage = tmp_path / "storage"
    write_wheel(storage, "logged", "1.0")
    with load_cache({"pypi.db": "memory", "storage.dir": str(storage)}, environ={}) as cache:
        cache.reload_from_storage()
        package = cache.upload("other-2.0.tar.gz", b"x")
        cache.delete(package)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["event"], e.get("filename")) for e in events] == [
        ("reloaded", None),
        ("saved", "other-2.0.tar.gz"),
        ("cleared", "other-2.0.tar.gz"),
    ]
    assert events[0]["added"] == 1


def test_its_validation_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PKGCACHE_AUDIT_LOG", str(tmp_path / "missing" / "audit.jsonl"))
    with pytest.raises(ConfigError, match="its folder does not exist"):
        load_settings({"pypi.db": "memory", "storage.dir": "/srv"}, environ={})
