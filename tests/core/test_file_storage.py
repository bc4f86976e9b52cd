"""The ``file`` storage: pypicloud's layout with sidecars, flat folders, archives' own metadata."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from pkgcache.file_storage import FileStorage
from pkgcache.testing import make_package, write_sdist, write_wheel


def storage(root: Path) -> FileStorage:
    return FileStorage(FileStorage.Settings(dir=root))


def test_pypicloud_layout_with_sidecar(tmp_path: Path) -> None:
    folder = tmp_path / "mypkg" / "1.0"
    folder.mkdir(parents=True)
    (folder / "mypkg-1.0.tar.gz").write_bytes(b"whatever")
    (folder / "mypkg-1.0.tar.gz.meta").write_text(json.dumps({"summary": "From sidecar", "uploader": "bob"}))
    [package] = list(storage(tmp_path).list())
    assert (package.name, package.version, package.summary, package.data) == (
        "mypkg",
        "1.0",
        "From sidecar",
        {"uploader": "bob"},
    )


def test_layout_folders_name_files_whose_name_cannot_be_parsed(tmp_path: Path) -> None:
    folder = tmp_path / "oddpkg" / "3.1"
    folder.mkdir(parents=True)
    (folder / "oddpkg.exe").write_bytes(b"x")
    [package] = list(storage(tmp_path).list())
    assert (package.name, package.version, package.filename) == ("oddpkg", "3.1", "oddpkg.exe")


def test_flat_folder_reads_archive_metadata(tmp_path: Path) -> None:
    write_wheel(tmp_path, "wheelpkg", "2.0", summary="Wheel ✓", requires_python=">=3.9")
    write_sdist(tmp_path, "sdistpkg", "0.3", summary="Sdist summary")
    with zipfile.ZipFile(tmp_path / "zippkg-1.0.zip", "w") as z:
        z.writestr("zippkg-1.0/PKG-INFO", "Metadata-Version: 2.1\nName: zippkg\nVersion: 1.0\nSummary: Zip sdist\n")
    found = {p.name: p for p in storage(tmp_path).list()}
    assert found["wheelpkg"].summary == "Wheel ✓"
    assert found["wheelpkg"].data == {"requires_python": ">=3.9"}
    assert found["sdistpkg"].summary == "Sdist summary"
    assert found["zippkg"].summary == "Zip sdist"


def test_unreadable_files_are_reported_and_skipped(tmp_path: Path) -> None:
    write_wheel(tmp_path, "ok", "1.0")
    (tmp_path / "README.txt").write_text("hello")
    (tmp_path / "bad-1.0.tar.gz").write_bytes(b"not gzip")
    (tmp_path / "ok-1.0-py3-none-any.whl.meta").write_text("{not json")
    s = storage(tmp_path)
    names = [p.name for p in s.list()]
    assert names == ["ok"]
    reasons = {Path(x.path).name: x.reason for x in s.skipped}
    assert "cannot tell name and version" in reasons["README.txt"]
    assert reasons["bad-1.0.tar.gz"].startswith("cannot read the archive")
    assert reasons["ok-1.0-py3-none-any.whl.meta"].startswith("sidecar ignored")


def test_upload_is_atomic_keeps_time_and_delete_tidies(tmp_path: Path) -> None:
    s = storage(tmp_path)
    package = make_package("up", "1.0", summary="Up ✓", uploader="me")
    s.upload(package, b"content")
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]
    [listed] = list(s.list())
    assert listed.to_dict() == package.to_dict()
    assert s.load(package) is not None and s.get_url(package) == str(tmp_path / "up" / "1.0" / package.filename)
    s.delete(package)
    assert s.load(package) is None and os.listdir(tmp_path) == []


def test_missing_root_lists_nothing(tmp_path: Path) -> None:
    assert list(storage(tmp_path / "absent").list()) == []
