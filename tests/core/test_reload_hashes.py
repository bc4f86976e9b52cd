"""Every file gets the sha256 an index links it with (``#sha256=``), and every wheel
its METADATA's (PEP 658): computed once by a reload of the file storage when no
sidecar records them, kept by the change token, recorded by ``Cache.upload``."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

import pkgcache.file_storage
from pkgcache import load_cache
from pkgcache.testing import write_sdist, write_wheel


def metadata_sha256(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as z:
        [name] = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        return hashlib.sha256(z.read(name)).hexdigest()


def test_a_reload_records_the_sha256_of_every_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Flat wheels and sdists, and pypicloud's layout with sidecars that lack the hashes:
    a reload hashes each file once; graceful reloads after it read nothing again."""
    write_wheel(tmp_path, "flatwheel", "1.0", summary="Flat wheel")
    write_sdist(tmp_path, "flatsdist", "2.0", summary="Flat sdist")
    for writer, name in ((write_wheel, "laidwheel"), (write_sdist, "laidsdist")):
        made = writer(tmp_path, name, "3.0")
        folder = tmp_path / name / "3.0"
        folder.mkdir(parents=True)
        moved = Path(shutil.move(made, folder / made.name))
        moved.with_name(moved.name + ".meta").write_text(json.dumps({"summary": f"{name} sidecar"}))
    files = {p.name: p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".meta")}
    assert len(files) == 4
    hashed: list[str] = []
    real = pkgcache.file_storage.file_sha256

    def counted(path: str) -> str:
        hashed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(pkgcache.file_storage, "file_sha256", counted)
    with load_cache({"pypi.db": "memory", "storage.dir": str(tmp_path)}, environ={}) as cache:
        result = cache.reload_from_storage(graceful=True)
        assert result.added == 4 and result.skipped == result.warnings == []
        assert sorted(hashed) == sorted(files)
        for filename, path in files.items():
            package = cache.fetch(filename)
            assert package is not None
            assert package.data["hash_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
            assert package.data["size"] == path.stat().st_size
            if filename.endswith(".whl"):  # with or without a sidecar
                assert package.data["core_metadata_sha256"] == metadata_sha256(path)
            else:
                assert "core_metadata_sha256" not in package.data
        assert cache.fetch("laidwheel-3.0-py3-none-any.whl").summary == "laidwheel sidecar"  # type: ignore[union-attr]
        hashed.clear()
        for _ in range(2):  # the change token keeps the hash: nothing is read again
            again = cache.reload_from_storage(graceful=True)
            assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 4)
        assert hashed == []


def test_a_sidecar_s_own_sha256_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pypicloud's sidecars record hash_sha256 at upload: the file is not read for it."""
    folder = tmp_path / "kept" / "1.0"
    folder.mkdir(parents=True)
    (folder / "kept-1.0.tar.gz").write_bytes(b"bytes")
    recorded = hashlib.sha256(b"bytes").hexdigest()
    (folder / "kept-1.0.tar.gz.meta").write_text(json.dumps({"hash_sha256": recorded}))
    monkeypatch.setattr(pkgcache.file_storage, "file_sha256", lambda path: pytest.fail(f"{path} hashed again"))
    with load_cache({"pypi.db": "memory", "storage.dir": str(tmp_path)}, environ={}) as cache:
        cache.reload_from_storage()
        found = cache.fetch("kept-1.0.tar.gz")
        assert found is not None and found.data["hash_sha256"] == recorded


def test_upload_of_a_wheel_records_its_metadata_sha256(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path / "src", "upwheel", "1.0", summary="Up")
    with load_cache({"pypi.db": "memory", "storage.dir": str(tmp_path / "store")}, environ={}) as cache:
        with wheel.open("rb") as stream:  # spooled content, as a web upload gives it
            cache.upload(wheel.name, stream)
        for found in (cache.fetch(wheel.name), next(iter(cache.storage.list()))):
            assert found is not None and found.data["core_metadata_sha256"] == metadata_sha256(wheel)
            assert found.data["hash_sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
        given = cache.upload("given-1.0-py3-none-any.whl", wheel.read_bytes(), core_metadata_sha256="f" * 64)
        assert given.data["core_metadata_sha256"] == "f" * 64  # the caller's is kept
        broken = cache.upload("broken-1.0-py3-none-any.whl", b"not a zip")
        assert "core_metadata_sha256" not in broken.data  # indexed without it, not refused
        sdist = cache.upload(write_sdist(tmp_path / "src", "upsdist", "1.0").name, b"sdist bytes")
        assert "core_metadata_sha256" not in sdist.data
