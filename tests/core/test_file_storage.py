"""The ``file`` storage: pypicloud's layout with sidecars, flat folders, archives' own metadata."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from pkgcache import StorageUnavailable
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
        {"uploader": "bob", "hash_sha256": hashlib.sha256(b"whatever").hexdigest(), "size": 8},
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
    wheel = next(tmp_path.glob("wheelpkg-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        metadata = z.read("wheelpkg-2.0.dist-info/METADATA")
    assert found["wheelpkg"].data == {
        "requires_python": ">=3.9",
        "core_metadata_sha256": hashlib.sha256(metadata).hexdigest(),
        "hash_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "size": wheel.stat().st_size,
    }
    for package in found.values():  # every file gets the hash an index links with
        assert package.data["hash_sha256"] == hashlib.sha256((tmp_path / package.filename).read_bytes()).hexdigest()
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
    assert reasons["bad-1.0.tar.gz"] == "cannot read the archive: not a gzip file"
    [warning] = s.warnings
    assert Path(warning.path).name == "ok-1.0-py3-none-any.whl"
    assert "sidecar ignored, not valid JSON metadata" in warning.reason


def test_upload_is_atomic_keeps_time_and_delete_tidies(tmp_path: Path) -> None:
    s = storage(tmp_path)
    package = make_package(
        "up", "1.0", summary="Up ✓", uploader="me", hash_sha256=hashlib.sha256(b"content").hexdigest(), size=7
    )
    s.upload(package, b"content")
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]
    [listed] = list(s.list())
    assert listed.to_dict() == package.to_dict()
    assert s.load(package) is not None and s.get_url(package) == str(tmp_path / "up" / "1.0" / package.filename)
    s.delete(package)
    assert s.load(package) is None and os.listdir(tmp_path) == []


def test_uploaded_files_get_the_mode_open_would_give(tmp_path: Path) -> None:
    """Not mkstemp's 0600: a web server running as another user serves these files."""
    s = storage(tmp_path)
    package = make_package("mode", "1.0")
    mask = os.umask(0o027)
    try:
        s.upload(package, b"content")
    finally:
        os.umask(mask)
    path = tmp_path / "mode" / "1.0" / package.filename
    assert path.stat().st_mode & 0o777 == 0o640
    assert path.with_name(package.filename + ".meta").stat().st_mode & 0o777 == 0o640


def test_missing_root_is_unavailable_not_empty(tmp_path: Path) -> None:
    with pytest.raises(
        StorageUnavailable, match=r"storage\.dir '.*absent' cannot be read \(No such file or directory\)"
    ):
        storage(tmp_path / "absent").list()
    assert storage(tmp_path / "absent").count_estimate() is None


def test_upload_outlives_a_delete_that_removes_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two writers on one version: a delete empties and removes the folder between the
    upload's mkdir (folder there) and pathlib's is_dir() check (folder gone). The upload
    makes the folder again instead of failing with FileExistsError."""
    s = storage(tmp_path)
    s.upload(make_package("race", "1.0", filename="race-1.0.tar.gz"), b"first")
    folder = tmp_path / "race" / "1.0"
    real_is_dir = Path.is_dir
    removed: list[Path] = []

    def is_dir_after_a_delete(self: Path) -> bool:
        if self == folder and not removed:
            s.delete(make_package("race", "1.0", filename="race-1.0.tar.gz"))  # the other writer
            removed.append(self)
        return real_is_dir(self)

    monkeypatch.setattr(Path, "is_dir", is_dir_after_a_delete)
    s.upload(make_package("race", "1.0", filename="race-1.0-py3-none-any.whl"), b"second")
    assert removed == [folder]
    assert sorted(os.listdir(folder)) == ["race-1.0-py3-none-any.whl", "race-1.0-py3-none-any.whl.meta"]


def test_upload_creates_the_missing_folder(tmp_path: Path) -> None:
    s = storage(tmp_path / "new" / "store")
    s.upload(make_package("first", "1.0"), b"x")
    assert [p.filename for p in s.list()] == ["first-1.0.tar.gz"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and Unix sockets are POSIX")
def test_sockets_and_fifos_are_never_opened(tmp_path: Path) -> None:
    import socket

    write_wheel(tmp_path, "ok", "1.0")
    os.mkfifo(tmp_path / "pipe-1.0.tar.gz")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "sock-1.0.tar.gz"))
        s = storage(tmp_path)
        assert [p.name for p in s.list()] == ["ok"]
    assert sorted((Path(x.path).name, x.reason) for x in s.skipped) == [
        ("pipe-1.0.tar.gz", "not a regular file (FIFO): not read"),
        ("sock-1.0.tar.gz", "not a regular file (socket): not read"),
    ]


@pytest.mark.parametrize("where", ["loop", "proj/loop", "proj/1.0/loop"], ids=["depth-1", "depth-2", "depth-3"])
def test_a_bind_mount_loop_ends_the_walk(tmp_path: Path, where: str) -> None:
    """A folder that is its own ancestor (a bind mount of the storage inside itself) is cut,
    at whatever depth: the listing ends, and it holds the storage's file."""
    root = tmp_path / "store"
    s = storage(root)
    s.upload(make_package("proj", "1.0", filename="proj-1.0.tar.gz"), b"x")
    mount_point = root / where
    mount_point.mkdir()
    done = subprocess.run(["mount", "--bind", str(root), str(mount_point)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"bind mounts need root and a mount namespace: {done.stderr.strip()}")
    try:
        listed = [p.filename for p in s.list()]
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)
    assert set(listed) == {"proj-1.0.tar.gz"}
    assert len(listed) <= 4  # the loop's copies, each under the same name, until the cut


def test_files_of_one_filename_index_the_first_in_path_order_and_name_it(tmp_path: Path) -> None:
    """Three copies of one filename (two project folders and the flat folder): the first
    in path order is indexed, each other one reported once, its reason naming the first."""
    for project in ("zeta", "alpha"):
        folder = tmp_path / project / "1.0"
        folder.mkdir(parents=True)
        (folder / "dup-1.0.tar.gz").write_bytes(project.encode())
    (tmp_path / "dup-1.0.tar.gz").write_bytes(b"flat")
    s = storage(tmp_path)
    for _ in range(2):  # every listing settles on the same one
        [package] = list(s.list())
        assert (package.name, package.data["size"]) == ("alpha", len(b"alpha"))
        first = str(tmp_path / "alpha" / "1.0" / "dup-1.0.tar.gz")
        assert sorted(x.path for x in s.skipped) == sorted(
            [str(tmp_path / "dup-1.0.tar.gz"), str(tmp_path / "zeta" / "1.0" / "dup-1.0.tar.gz")]
        )
        for skipped in s.skipped:
            assert skipped.reason.startswith(f"same filename as {first!r}, which comes first in path order")
