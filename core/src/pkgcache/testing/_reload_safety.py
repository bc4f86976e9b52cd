"""Kit tests: a reload never loses what exists (mixed into :class:`CacheConformance`).

A wrong storage (missing, a file, empty) leaves the cache exactly as it
was; bad files among good ones cost only themselves; the field limits of
:class:`~pkgcache.Package` give the same values on every backend; and
whatever ``upload`` accepts, a plain reload finds again, while what it
refuses never reaches the storage.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from .. import Cache, InvalidPackage, Package, ReloadRefused, StorageUnavailable
from ..package import MAX_DATA_BYTES, MAX_IDENTITY_CHARS, MAX_SUMMARY_CHARS
from ._base import KitBase
from ._files import T0, make_package, write_sdist, write_wheel

__all__ = ["ReloadSafety", "write_good_files", "write_metadata_bomb"]


def _written(package: Package) -> dict[str, Any]:
    """The metadata a sidecar gave, without the file hash and size a reload adds where none was written."""
    return {k: v for k, v in package.data.items() if k not in ("hash_sha256", "size")}


def write_metadata_bomb(path: Path, expanded: int) -> Path:
    """A wheel (``.whl``) or sdist (``.tar.gz``) at ``path`` whose METADATA / PKG-INFO
    is ``expanded`` bytes of spaces, compressed to a small file, written in chunks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    chunk = b" " * (1 << 20)
    if path.name.endswith(".whl"):
        dist = path.name.split("-")[0] + "-" + path.name.split("-")[1]
        with (
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
            archive.open(f"{dist}.dist-info/METADATA", "w", force_zip64=True) as member,
        ):
            for done in range(0, expanded, len(chunk)):
                member.write(chunk[: expanded - done])
        return path

    class Spaces(io.RawIOBase):
        left = expanded

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            n = min(len(buffer), self.left)
            buffer[:n] = b" " * n
            self.left -= n
            return n

    info = tarfile.TarInfo(path.name.removesuffix(".tar.gz") + "/PKG-INFO")
    info.size = expanded
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(info, io.BufferedReader(Spaces()))
    return path


def _contents(cache: Cache) -> dict[str, Any]:
    """Everything a reader can see, to compare a cache before and after."""
    names = cache.distinct()
    return {
        "distinct": names,
        "all": {n: [p.to_dict() for p in cache.all(n)] for n in names},
        "summary": cache.summary(),
    }


def write_good_files(storage_dir: Path) -> set[str]:
    """Files of every layout that any storage reading must index."""
    write_wheel(storage_dir, "flat-good", "1.0", summary="Flat wheel")
    write_sdist(storage_dir, "flat-good", "1.1", summary="Flat sdist")
    layout = storage_dir / "laid-out" / "2.0"
    layout.mkdir(parents=True)
    (layout / "laid_out-2.0.tar.gz").write_bytes(b"any bytes: the sidecar tells all")
    (layout / "laid_out-2.0.tar.gz.meta").write_text(json.dumps({"summary": "From sidecar", "uploader": "ann"}))
    return {"flat_good-1.0-py3-none-any.whl", "flat_good-1.1.tar.gz", "laid_out-2.0.tar.gz"}


def _filenames(cache: Cache) -> set[str]:
    return {p.filename for n in cache.distinct() for p in cache.all(n)}


class ReloadSafety(KitBase):
    """Tests that a reload loses nothing."""

    # -- a wrong storage leaves the cache as it was ----------------------------------
    def _filled(self, cache: Cache, storage_dir: Path) -> dict[str, Any]:
        write_good_files(storage_dir)
        cache.reload_from_storage()
        before = _contents(cache)
        assert before["distinct"] == ["flat-good", "laid-out"]
        return before

    @pytest.mark.parametrize("graceful", [False, True], ids=["plain", "graceful"])
    def test_reload_refuses_a_missing_or_non_folder_storage(
        self, cache: Cache, storage_dir: Path, graceful: bool
    ) -> None:
        before = self._filled(cache, storage_dir)
        moved = storage_dir.rename(storage_dir.with_name("moved-away"))
        with pytest.raises(StorageUnavailable, match=r"storage\.dir .* cannot be read"):
            cache.reload_from_storage(graceful=graceful, allow_empty=True)
        assert _contents(cache) == before
        storage_dir.write_bytes(b"a regular file where the folder was")
        with pytest.raises(StorageUnavailable, match=r"storage\.dir .* is not a folder"):
            cache.reload_from_storage(graceful=graceful, allow_empty=True)
        assert _contents(cache) == before
        storage_dir.unlink()
        moved.rename(storage_dir)

    def test_reload_if_needed_refuses_a_missing_storage(self, cache: Cache, storage_dir: Path) -> None:
        storage_dir.rmdir()
        with pytest.raises(StorageUnavailable, match=r"storage\.dir"):
            cache.reload_if_needed()
        assert cache.distinct() == []
        storage_dir.mkdir()
        write_good_files(storage_dir)
        result = cache.reload_if_needed()
        assert result is not None and result.added == 3

    @pytest.mark.parametrize("graceful", [False, True], ids=["plain", "graceful"])
    def test_reload_refuses_to_empty_the_cache(self, cache: Cache, storage_dir: Path, graceful: bool) -> None:
        before = self._filled(cache, storage_dir)
        shutil.rmtree(storage_dir)
        storage_dir.mkdir()  # an empty mount point, as an unmounted volume leaves it
        with pytest.raises(ReloadRefused, match=r"lists 0 files while the cache holds 3: .*allow_empty=True"):
            cache.reload_from_storage(graceful=graceful)
        assert _contents(cache) == before
        (storage_dir / "junk-1.0.tar.gz").write_bytes(b"unreadable")  # only bad files: still nothing listed
        with pytest.raises(ReloadRefused, match=r"lists 0 files \(1 skipped as unreadable\) while the cache holds 3"):
            cache.reload_from_storage(graceful=graceful)
        assert _contents(cache) == before
        kept = cache.reload_from_storage(graceful=graceful, clear=False)  # removes nothing: no guard
        assert kept.removed == 0 and _contents(cache) == before
        result = cache.reload_from_storage(graceful=graceful, allow_empty=True)
        assert result.removed == 3 and cache.distinct() == []

    @pytest.mark.parametrize("graceful", [False, True], ids=["plain", "graceful"])
    def test_reload_max_delete_caps_the_share_removed(self, cache: Cache, storage_dir: Path, graceful: bool) -> None:
        before = self._filled(cache, storage_dir)
        (storage_dir / "flat_good-1.0-py3-none-any.whl").unlink()
        (storage_dir / "flat_good-1.1.tar.gz").unlink()
        with pytest.raises(ReloadRefused, match=r"remove 2 of the cache's 3 files .*max_delete=0\.5"):
            cache.reload_from_storage(graceful=graceful, max_delete=0.5)
        assert _contents(cache) == before
        result = cache.reload_from_storage(graceful=graceful, max_delete=0.7)
        assert result.removed == 2 and cache.distinct() == ["laid-out"]
        with pytest.raises(ValueError, match="max_delete"):
            cache.reload_from_storage(graceful=graceful, max_delete=1.5)

    # -- bad files cost only themselves -------------------------------------------------
    def _bad_among_good(self, storage_dir: Path) -> tuple[set[str], set[str], set[str]]:
        """(good filenames, names of files skipped, names of files indexed with a warning)."""
        good = write_good_files(storage_dir)
        skipped = {"README.txt", "broken-1.0.tar.gz", "loop-1.0.tar.gz", "outside-1.0.tar.gz", "dangling-1.0.tar.gz"}
        (storage_dir / "README.txt").write_text("not a package")
        (storage_dir / "broken-1.0.tar.gz").write_bytes(b"not gzip")
        os.symlink("loop-1.0.tar.gz", storage_dir / "loop-1.0.tar.gz")  # a link to itself: ELOOP
        os.symlink(storage_dir.parent / "elsewhere-1.0.tar.gz", storage_dir / "dangling-1.0.tar.gz")
        write_sdist(storage_dir.parent, "outside", "1.0")
        os.symlink(storage_dir.parent / "outside-1.0.tar.gz", storage_dir / "outside-1.0.tar.gz")
        os.symlink(storage_dir, storage_dir / "up")  # a folder loop: not followed
        skipped.add("up")
        inside = write_wheel(storage_dir / "sub", "linked", "1.0")  # a link to a regular file inside: followed
        os.symlink(inside, storage_dir / "linked_copy-1.0-py3-none-any.whl")
        good |= {"linked-1.0-py3-none-any.whl", "linked_copy-1.0-py3-none-any.whl"}
        if hasattr(os, "mkfifo"):
            os.mkfifo(storage_dir / "fifo-1.0.tar.gz")  # opening it would block forever
            skipped.add("fifo-1.0.tar.gz")
        root = os.fsencode(storage_dir)
        with open(root + b"/latin\xe9-1.0.tar.gz", "wb") as handle:  # not UTF-8: surrogate-escaped
            handle.write(b"x")
        os.makedirs(root + b"/dir\xff/1.0")
        with open(root + b"/dir\xff/1.0/dir-1.0.tar.gz", "wb") as handle:
            handle.write(b"x")
        skipped |= {"latin\\xe9-1.0.tar.gz", "dir\\xff"}
        write_metadata_bomb(storage_dir / "bomb-1.0-py3-none-any.whl", 8 << 20)  # flat: needs its archive
        skipped.add("bomb-1.0-py3-none-any.whl")
        # pypicloud's layout: folders name the file, metadata problems cost only metadata
        warned = set()
        for name, meta in {
            "collide": json.dumps({"self": "s", "data": {"d": 1}, "name": "evil", "filename": "x", "summary": "ok"}),
            "deep": "[" * 100_000 + "]" * 100_000,
            "huge": json.dumps({"summary": "h" * (2 << 20)}),
            "nul": json.dumps({"summary": "a\x00b", "k": "c\x00d"}),
            "long": json.dumps({"summary": "s" * (MAX_SUMMARY_CHARS + 10)}),
            "fat": json.dumps({"blob": ["x" * 1000] * 100}),
            "notjson": "{nope",
        }.items():
            folder = storage_dir / name / "1.0"
            folder.mkdir(parents=True)
            (folder / f"{name}-1.0.tar.gz").write_bytes(b"sidecar says it all")
            (folder / f"{name}-1.0.tar.gz.meta").write_text(meta)
            good.add(f"{name}-1.0.tar.gz")
        warned |= {"deep-1.0.tar.gz", "huge-1.0.tar.gz", "fat-1.0.tar.gz", "notjson-1.0.tar.gz"}
        folder = storage_dir / "rotten" / "3.0"
        folder.mkdir(parents=True)
        (folder / "rotten-3.0.tar.gz").write_bytes(b"not an archive, no sidecar")
        write_metadata_bomb(storage_dir / "bombed" / "1.0" / "bombed-1.0.tar.gz", 8 << 20)
        good |= {"rotten-3.0.tar.gz", "bombed-1.0.tar.gz"}
        warned |= {"rotten-3.0.tar.gz", "bombed-1.0.tar.gz", "notjson-1.0.tar.gz"}
        return good, skipped, warned

    @pytest.mark.parametrize("graceful", [False, True], ids=["plain", "graceful"])
    def test_bad_entries_among_good_ones_cost_only_themselves(
        self, cache: Cache, storage_dir: Path, graceful: bool
    ) -> None:
        good, skipped, warned = self._bad_among_good(storage_dir)
        result = cache.reload_from_storage(graceful=graceful)
        assert _filenames(cache) == good
        assert sorted(Path(s.path).name for s in result.skipped) == sorted(skipped)
        assert sorted(Path(s.path).name for s in result.warnings) == sorted(warned)
        assert all("\n" not in str(s) for s in result.skipped + result.warnings)
        reasons = {Path(s.path).name: s.reason for s in result.skipped + result.warnings}
        assert "symbolic link not followed" in reasons["loop-1.0.tar.gz"]
        assert "outside the storage" in reasons["outside-1.0.tar.gz"]
        assert "over 4 MiB uncompressed" in reasons["bomb-1.0-py3-none-any.whl"]
        assert "over 4 MiB uncompressed" in reasons["bombed-1.0.tar.gz"]
        assert "not valid UTF-8" in reasons["dir\\xff"]
        if "fifo-1.0.tar.gz" in skipped:
            assert "FIFO" in reasons["fifo-1.0.tar.gz"]
        collide = cache.fetch("collide-1.0.tar.gz")
        assert collide is not None and (collide.name, collide.summary) == ("collide", "ok")
        assert _written(collide) == {"self": "s", "data": {"d": 1}}
        nul = cache.fetch("nul-1.0.tar.gz")
        assert nul is not None and (nul.summary, _written(nul)) == ("ab", {"k": "cd"})
        long = cache.fetch("long-1.0.tar.gz")
        assert long is not None and long.summary == "s" * MAX_SUMMARY_CHARS
        rotten = cache.fetch("rotten-3.0.tar.gz")
        assert rotten is not None and (rotten.name, rotten.version, rotten.summary) == ("rotten", "3.0", None)

    # -- limits: the same values on every backend ----------------------------------------
    def test_values_at_the_limits_round_trip(self, cache: Cache) -> None:
        """The longest name, version, filename, summary and metadata fit every backend."""
        n = MAX_IDENTITY_CHARS
        name = ("Ünï_" * n)[:n]
        version = ("1" + ".1" * n)[:n]
        filename = ("f" * n)[: n - len(".tar.gz")] + ".tar.gz"
        summary = ("🐍\U0001d518 sümmary " * MAX_SUMMARY_CHARS)[: MAX_SUMMARY_CHARS - 10] + "🐍" * 10
        blob = "ü" * ((MAX_DATA_BYTES - 200) // 2)
        widest = Package(name, version, filename, T0, summary, blob=blob, nested={"k": [1, 2.5, None, True]})
        others = [make_package("lim", f"1.{i}", summary=summary, minutes=i) for i in range(3)]
        cache.save_many([widest, *others])
        found = cache.fetch(filename)
        assert found is not None and found.to_dict() == widest.to_dict()
        assert len(found.summary or "") == MAX_SUMMARY_CHARS and found.version == version
        assert [p.to_dict() for p in cache.all("lim")] == [p.to_dict() for p in reversed(others)]
        assert cache.summary()[0]["summary"] == summary

    def test_values_over_the_limits_are_cut_or_refused_alike(self, cache: Cache) -> None:
        cut = make_package("cut", "1.0", summary="x\x00y\udcff" + "z" * MAX_SUMMARY_CHARS, note="n\x00o\ud800")
        cache.save(cut)
        found = cache.fetch(cut.filename)
        assert found is not None and found.summary == ("xy\ufffd" + "z" * MAX_SUMMARY_CHARS)[:MAX_SUMMARY_CHARS]
        assert _written(found) == {"note": "no\ufffd"}
        cases: list[tuple[tuple[str, str, str], dict[str, Any]]] = [
            (("n" * (MAX_IDENTITY_CHARS + 1), "1", "f.tar.gz"), {}),
            (("n", "1", "f" * (MAX_IDENTITY_CHARS + 1)), {}),
            (("n", "1", "f.tar.gz"), {"blob": "x" * MAX_DATA_BYTES}),
            (("n", "1\x00", "f.tar.gz"), {}),
        ]
        for args, data in cases:
            with pytest.raises(InvalidPackage):
                Package(*args, **data)

    # -- upload and listing follow one rule --------------------------------------------------
    @pytest.mark.parametrize(
        ("filename", "keys"),
        [
            (".hidden-1.0.tar.gz", {}),
            ("dots-1.0.tar.gz", {"version": "..."}),
            ("surrogate\udcff-1.0.tar.gz", {}),
            ("nul\x00-1.0.tar.gz", {}),
            ("side-1.0.tar.gz.meta", {"name": "side", "version": "1.0"}),
            ("slash-1.0.tar.gz", {"name": "a/b"}),
            ("hid-1.0.tar.gz", {"name": ".hid"}),
            ("unicode-1.0é.tar.gz", {}),
            ("y" * 240 + "-1.0.tar.gz", {}),
            ("fat-1.0.tar.gz", {"blob": "x" * MAX_DATA_BYTES}),
        ],
        ids=["hidden", "version-dots", "surrogate", "nul", "sidecar", "slash", "hidden-name", "non-ascii-version",
             "too-long-on-disk", "metadata-too-big"],
    )  # fmt: skip
    def test_upload_refuses_what_a_reload_could_not_find(
        self, cache: Cache, storage_dir: Path, filename: str, keys: dict[str, Any]
    ) -> None:
        with pytest.raises(InvalidPackage):
            cache.upload(filename, b"content", **keys)
        assert os.listdir(storage_dir) == []
        assert cache.distinct() == []

    @pytest.mark.parametrize("graceful", [False, True], ids=["plain", "graceful"])
    def test_what_upload_accepts_a_reload_finds_again(self, cache: Cache, graceful: bool) -> None:
        long_name = "l" * (255 - len("-1.0.tar.gz.meta")) + "-1.0.tar.gz"
        cache.upload("Ünïcode_Pkg-1.0.tar.gz", b"1", summary="Sümmary 🐍 with\x00 NUL")
        cache.upload("local-1.0+ubuntu.7-py3-none-any.whl", b"2", requires_python=">=3.9")
        cache.upload("odd.exe", b"3", name="odd", version="2!1.0rc1.post2.dev3")
        cache.upload("legacy-banana.tar.gz", b"4", **{"self": "me", "name_hint": "x"})  # type: ignore[arg-type]
        cache.upload(long_name, b"5", summary="s" * (MAX_SUMMARY_CHARS + 5))
        cache.upload("spaced-1.0 beta.tar.gz", b"6", version="1.0 beta")
        before = _contents(cache)
        result = cache.reload_from_storage(graceful=graceful)
        assert (result.removed, result.skipped, result.warnings) == (0, [], [])
        assert _contents(cache) == before
        assert len(_filenames(cache)) == 6
