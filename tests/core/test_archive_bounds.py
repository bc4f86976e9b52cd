"""A tiny archive cannot stall a reload: what is decompressed to reach an sdist's
PKG-INFO, and the members passed over, are bounded per archive; beyond the bound
the file is indexed by its name alone, with one warning line."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

import pkgcache._metadata as metadata
from pkgcache import load_cache, read_core_metadata
from pkgcache.testing import write_wheel

BOUND = 4 << 20
PKG_INFO = b"Metadata-Version: 2.1\nName: bomb\nVersion: 1.0\nSummary: Reached\n"


class Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def write_bomb(path: Path, zeros: int, members: int = 1) -> Path:
    """An sdist whose PKG-INFO comes after ``zeros`` bytes of zeros (in ``members`` files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = {".tar.gz": "w:gz", ".tar.bz2": "w:bz2", ".tar.xz": "w:xz"}[
        next(s for s in (".tar.gz", ".tar.bz2", ".tar.xz") if path.name.endswith(s))
    ]
    top = path.name.split("-1.0")[0] + "-1.0"
    with tarfile.open(path, mode) as tar:
        for i in range(members):
            info = tarfile.TarInfo(f"{top}/data{i}.bin")
            info.size = zeros // members
            tar.addfile(info, io.BufferedReader(Zeros(info.size)))
        info = tarfile.TarInfo(f"{top}/PKG-INFO")
        info.size = len(PKG_INFO)
        tar.addfile(info, io.BytesIO(PKG_INFO))
    return path


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A small bound, and the bytes the bounded reader handed out (to show it stopped)."""
    monkeypatch.setattr(metadata, "MAX_DECOMPRESSED_BYTES", BOUND)
    given = [0]
    read = metadata._Budget.readinto

    def counting(self: Any, buffer: Any) -> int:
        n = read(self, buffer)
        given[0] += n
        return n

    monkeypatch.setattr(metadata._Budget, "readinto", counting)
    return given


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar.bz2", ".tar.xz"])
def test_metadata_beyond_the_bound_is_not_read(tmp_path: Path, suffix: str, counted: list[int]) -> None:
    bomb = write_bomb(tmp_path / f"bomb-1.0{suffix}", zeros=8 * BOUND)
    with bomb.open("rb") as handle, pytest.raises(metadata.MetadataOutOfReach, match="beyond 4 MiB"):
        metadata.read_archive_metadata(handle, bomb.name)
    assert counted[0] <= BOUND
    small = write_bomb(tmp_path / "small" / f"bomb-1.0{suffix}", zeros=BOUND // 2)
    with small.open("rb") as handle:
        assert metadata.read_archive_metadata(handle, small.name) == {"summary": "Reached"}


def test_members_passed_over_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metadata, "MAX_MEMBERS", 50)
    bomb = write_bomb(tmp_path / "many-1.0.tar.gz", zeros=0, members=200)
    with bomb.open("rb") as handle, pytest.raises(metadata.MetadataOutOfReach, match="first 50 members"):
        metadata.read_archive_metadata(handle, bomb.name)
    archive = tmp_path / "many-1.0.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(200):
            z.writestr(f"many-1.0/f{i}", b"")
        z.writestr("many-1.0/PKG-INFO", PKG_INFO)
    with archive.open("rb") as handle, pytest.raises(metadata.MetadataOutOfReach):
        metadata.read_archive_metadata(handle, archive.name)


@pytest.mark.parametrize("layout", ["flat", "pypicloud"])
def test_a_reload_indexes_the_bomb_by_name_with_one_warning(tmp_path: Path, layout: str, counted: list[int]) -> None:
    storage = tmp_path / "storage"
    folder = storage if layout == "flat" else storage / "bomb" / "1.0"
    write_bomb(folder / "bomb-1.0.tar.bz2", zeros=8 * BOUND)
    write_wheel(storage, "fine", "2.0", summary="Fine")
    with load_cache({"pypi.db": "memory", "storage.dir": str(storage)}, environ={}) as cache:
        result = cache.reload_from_storage()
        assert result.skipped == []
        [warning] = result.warnings
        assert Path(warning.path).name == "bomb-1.0.tar.bz2" and "beyond 4 MiB" in warning.reason
        bomb = cache.fetch("bomb-1.0.tar.bz2")
        assert bomb is not None and (bomb.name, bomb.version, bomb.summary) == ("bomb", "1.0", None)
        assert bomb.data["hash_sha256"] == hashlib.sha256((folder / "bomb-1.0.tar.bz2").read_bytes()).hexdigest()
        fine = cache.fetch("fine-2.0-py3-none-any.whl")
        assert fine is not None and fine.summary == "Fine"
    assert counted[0] <= BOUND


def test_wheel_metadata_hash_is_of_the_exact_bytes(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path, "exact", "1.0", summary="Exact", requires_python=">=3.9")
    with zipfile.ZipFile(wheel) as z:
        raw = z.read("exact-1.0.dist-info/METADATA")
    with wheel.open("rb") as handle:
        found = metadata.read_archive_metadata(handle, wheel.name)
    assert found["core_metadata_sha256"] == hashlib.sha256(raw).hexdigest()
    with wheel.open("rb") as handle:
        assert read_core_metadata(handle, wheel.name) == raw
    with wheel.open("rb") as handle:
        assert read_core_metadata(handle, "exact-1.0.tar.gz") is None
