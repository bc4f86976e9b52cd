"""The rules behind reload safety, one by one: bounded metadata reads, one identity rule,
field limits, one-line reasons, the settings of ``storage.dir``."""

from __future__ import annotations

import json
import os
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from pkgcache import InvalidPackage, Package, ReloadRefused, Skipped, StorageUnavailable, load_cache
from pkgcache._metadata import MAX_METADATA_BYTES, one_line
from pkgcache._reload import Guard
from pkgcache.file_storage import FileStorage
from pkgcache.package import MAX_SUMMARY_CHARS, check_identity
from pkgcache.testing import make_package, write_wheel
from pkgcache.testing._reload_safety import write_metadata_bomb

BOMB = 100 << 20  # a 100 MiB run of spaces, about 100 KiB on disk


def storage(root: Path) -> FileStorage:
    return FileStorage(FileStorage.Settings(dir=root))


@pytest.mark.parametrize("filename", ["bomb-1.0-py3-none-any.whl", "bomb-1.0.tar.gz"])
def test_a_metadata_bomb_is_skipped_with_little_memory(tmp_path: Path, filename: str) -> None:
    path = write_metadata_bomb(tmp_path / filename, BOMB)
    assert path.stat().st_size < 1 << 20
    write_wheel(tmp_path, "fine", "1.0", summary="Fine")
    s = storage(tmp_path)
    tracemalloc.start()
    try:
        listed = [p.filename for p in s.list()]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert listed == ["fine-1.0-py3-none-any.whl"]
    assert [str(x) for x in s.skipped] == [
        f"{path}: metadata of {filename!r} is over {MAX_METADATA_BYTES >> 20} MiB uncompressed: not read"
    ]
    assert peak < 3 * MAX_METADATA_BYTES, f"peak {peak:,} bytes while reading a {BOMB:,}-byte METADATA"


def test_a_bomb_in_pypiclouds_layout_is_indexed_without_metadata(tmp_path: Path) -> None:
    path = write_metadata_bomb(tmp_path / "bombed" / "2.0" / "bombed-2.0.tar.gz", 8 << 20)
    s = storage(tmp_path)
    [package] = s.list()
    assert (package.name, package.version, package.summary, s.skipped) == ("bombed", "2.0", None, [])
    assert [x.path for x in s.warnings] == [str(path)]


def test_sdist_reasons_are_one_short_line(tmp_path: Path) -> None:
    for suffix in (".tar.gz", ".tar.bz2", ".tar.xz", ".tar", ".zip", ".tgz"):
        (tmp_path / f"bad-1.0{suffix}").write_bytes(b"\x00garbage" * 10)
    s = storage(tmp_path)
    assert list(s.list()) == []
    assert len(s.skipped) == 6
    for skipped in s.skipped:
        assert "\n" not in str(skipped) and "method" not in skipped.reason, skipped
        assert skipped.reason.startswith("cannot read the archive: ")


def test_one_line_takes_the_first_meaningful_line() -> None:
    assert one_line(tarfile.ReadError("file could not be opened:\n- method gz: x")) == "file could not be opened"
    assert one_line(ValueError("")) == "ValueError"


def test_skipped_paths_are_printable_whatever_the_bytes() -> None:
    raw = os.fsdecode(b"/srv/caf\xe9/\xff-1.0.tar.gz")
    shown = Skipped(raw, "name is not\nvalid UTF-8")
    assert str(shown) == "/srv/caf\\xe9/\\xff-1.0.tar.gz: name is not valid UTF-8"
    json.dumps(str(shown), ensure_ascii=False).encode("utf-8")  # would fail with a lone surrogate


@pytest.mark.parametrize(
    ("name", "version", "filename", "message"),
    [
        ("a", "1", ".hidden.tar.gz", "start with '.'"),
        ("a", "...", "a.tar.gz", "start with '.'"),
        ("a", "1", "a\udcff.tar.gz", "non-UTF-8"),
        ("a\x00", "1", "a.tar.gz", "NUL"),
        ("a", "1\t", "a.tar.gz", "control"),
        ("a", "1", "a.tar.gz.meta", "sidecar"),
        ("a", "1.0é", "a.tar.gz", "ASCII"),
        ("a", "1", "x" * 256, "over the limit of 255"),
        ("a", "1", "a\\b.tar.gz", "'/' or '\\'"),
    ],
)
def test_one_identity_rule(name: str, version: str, filename: str, message: str) -> None:
    with pytest.raises(InvalidPackage, match=message.replace("\\", "\\\\").replace("(", "\\(")) as info:
        check_identity(name, version, filename)
    assert "\n" not in str(info.value)
    with pytest.raises(InvalidPackage):
        Package(name, version, filename)


def test_metadata_keys_never_clash_with_parameters() -> None:
    meta = {"self": 1, "data": {"x": 2}, "name": "evil", "version": "9", "filename": "f", "last_modified": 3}
    package = Package.from_metadata("good", "1.0", "good-1.0.tar.gz", None, {**meta, "summary": "S"})
    assert (package.name, package.version, package.filename, package.summary) == ("good", "1.0", "good-1.0.tar.gz", "S")
    assert package.data == {"self": 1, "data": {"x": 2}}
    assert Package("a", "1", "a.whl", None, None, **{"self": "kw"}).data == {"self": "kw"}


def test_metadata_too_deep_or_not_json_is_refused() -> None:
    deep: object = "leaf"
    for _ in range(40):
        deep = [deep]
    with pytest.raises(InvalidPackage, match="nested deeper"):
        Package("a", "1", "a.whl", deep=deep)
    with pytest.raises(InvalidPackage, match="must be JSON"):
        Package("a", "1", "a.whl", when=object())
    assert Package("a", "1", "a.whl", pair=("x", 1)).data == {"pair": ["x", 1]}


def test_summary_is_cleaned_then_cut() -> None:
    package = Package("a", "1", "a.whl", summary="\x00" * 5 + "s" * (MAX_SUMMARY_CHARS + 1))
    assert package.summary == "s" * MAX_SUMMARY_CHARS
    assert Package("a", "1", "a.whl", summary="\x00").summary is None


def test_guard_takes_only_a_share() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        Guard(max_delete=2)
    Guard(max_delete=0).check(storage(Path("/nowhere")), listed=5, cached=5, removing=0)
    with pytest.raises(ReloadRefused, match="remove 1 of the cache's 5"):
        Guard(max_delete=0).check(storage(Path("/nowhere")), listed=4, cached=5, removing=1)


def test_storage_dir_settings(tmp_path: Path) -> None:
    regular = tmp_path / "file"
    regular.write_text("x")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        FileStorage.Settings(dir=regular)
    with pytest.raises(ValueError, match="NUL"):
        FileStorage.Settings(dir=Path("/srv/a\x00b"))
    assert FileStorage.Settings(dir=tmp_path / "later").dir == tmp_path / "later"  # upload creates it
    description = FileStorage.Settings.model_fields["dir"].description or ""
    assert "created when missing" not in description and "refuses" in description


def test_a_storage_that_vanishes_mid_reload_is_not_taken_for_empty(tmp_path: Path) -> None:
    root = tmp_path / "store"
    s = storage(root)
    package = make_package("p", "1.0")
    s.upload(package, b"x")
    assert s.load(package) is not None
    os.rename(root, tmp_path / "gone")
    with pytest.raises(StorageUnavailable):
        s.load(package)


def test_upload_refuses_names_too_long_for_the_disk_before_writing(tmp_path: Path) -> None:
    with load_cache({"pypi.db": "memory", "storage.dir": str(tmp_path / "s")}, environ={}) as cache:
        with pytest.raises(InvalidPackage, match="over 255 bytes"):
            cache.upload("é" * 120 + "-1.0.tar.gz", b"x")  # 251 characters, 262 bytes with .meta
        assert not (tmp_path / "s").exists() and cache.distinct() == []
