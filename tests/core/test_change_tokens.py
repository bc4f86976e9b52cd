"""Change tokens: the file storage's scan and read agree, any change moves them, and a
storage or backend that knows nothing of tokens still reloads as before."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from pkgcache import Cache, Package, load_cache
from pkgcache.file_storage import FileStorage
from pkgcache.memory import MemoryCache
from pkgcache.storage import Entry, Storage
from pkgcache.testing import make_package, write_wheel


def storage(root: Path) -> FileStorage:
    return FileStorage(FileStorage.Settings(dir=root))


def tokens(s: FileStorage) -> dict[str, str | None]:
    return {e.filename: e.token for e in s.scan()}


def test_scan_and_read_give_the_same_token_and_upload_knows_it(tmp_path: Path) -> None:
    s = storage(tmp_path)
    given = make_package("tok", "1.0")
    uploaded = s.upload(given, b"content")
    assert uploaded is not given and given.token is None  # the caller's package is left as it was
    write_wheel(tmp_path, "flat", "2.0")
    entries = {e.filename: e for e in s.scan()}
    assert set(entries) == {"tok-1.0.tar.gz", "flat-2.0-py3-none-any.whl"}
    for entry in entries.values():
        package = s.read(entry)
        assert package is not None and package.token == entry.token is not None
    assert uploaded.token == entries["tok-1.0.tar.gz"].token  # recorded from what upload wrote
    assert "/" in (entries["tok-1.0.tar.gz"].token or "") and "/" not in (
        entries["flat-2.0-py3-none-any.whl"].token or ""
    )
    assert [p.filename for p in s.list()] == [p.filename for p in s.read_many(entries.values())]


def test_any_change_to_the_file_or_its_sidecar_moves_the_token(tmp_path: Path) -> None:
    s = storage(tmp_path)
    s.upload(make_package("tok", "1.0"), b"content")
    path = tmp_path / "tok" / "1.0" / "tok-1.0.tar.gz"
    meta = path.with_name(path.name + ".meta")
    seen = [tokens(s)["tok-1.0.tar.gz"]]
    meta.write_text(json.dumps({"summary": "other"}))  # in place: size
    seen.append(tokens(s)["tok-1.0.tar.gz"])
    st = meta.stat()
    os.utime(meta, ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # a time alone
    seen.append(tokens(s)["tok-1.0.tar.gz"])
    replacement = path.with_name(".new")
    replacement.write_bytes(path.read_bytes())
    os.utime(replacement, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    os.replace(replacement, path)  # same size and time, another inode
    seen.append(tokens(s)["tok-1.0.tar.gz"])
    meta.unlink()
    seen.append(tokens(s)["tok-1.0.tar.gz"])
    assert len(set(seen)) == len(seen)


def test_a_file_read_with_a_warning_has_no_token(tmp_path: Path) -> None:
    """So every graceful reload reads it again and reports the warning again."""
    folder = tmp_path / "bad" / "1.0"
    folder.mkdir(parents=True)
    (folder / "bad-1.0.tar.gz").write_bytes(b"x")
    (folder / "bad-1.0.tar.gz.meta").write_text("{nope")
    s = storage(tmp_path)
    [entry] = s.scan()
    package = s.read(entry)
    assert package is not None and package.token is None and len(s.warnings) == 1


class ListOnly(Storage):
    """A third-party storage written before scan() existed: list() alone."""

    def __init__(self, packages: list[Package]) -> None:
        super().__init__(Storage.Settings())
        self.packages = packages
        self.listings = 0

    def list(self) -> Iterator[Package]:
        self.listings += 1
        return iter(self.packages)

    def load(self, package: Package) -> Package | None:
        return next((p for p in self.packages if p.filename == package.filename), None)

    def open(self, package: Package) -> BinaryIO:
        raise FileNotFoundError(package.filename)

    def upload(self, package: Package, data: bytes | BinaryIO) -> Package:
        self.packages.append(package)
        return package

    def delete(self, package: Package) -> None:
        self.packages = [p for p in self.packages if p.filename != package.filename]

    def get_url(self, package: Package) -> str:
        return package.filename


@pytest.mark.parametrize("graceful", [False, True], ids=["plain", "graceful"])
def test_a_storage_with_list_alone_still_reloads(graceful: bool) -> None:
    packages = [make_package("old", f"1.{i}") for i in range(3)]
    s = ListOnly(packages)
    assert [e.package for e in s.scan()] == packages
    cache = MemoryCache(MemoryCache.Settings(), s)
    result = cache.reload_from_storage(graceful=graceful)
    assert (result.added, result.unchanged) == (3, 0)
    s.packages = [*packages[:2], make_package("old", "1.2", summary="changed"), make_package("new", "1")]
    result = cache.reload_from_storage(graceful=graceful)
    assert (result.added, result.removed, result.updated, result.unchanged) == (1, 0, 1, 2)
    assert cache.fetch("old-1.2.tar.gz").summary == "changed"  # type: ignore[union-attr]


def test_a_storage_with_neither_list_nor_scan_says_what_to_implement() -> None:
    class Neither(ListOnly):
        list = Storage.list  # type: ignore[assignment]

    with pytest.raises(NotImplementedError, match=r"Neither must implement scan\(\) and read\(\), or list\(\)"):
        Neither([]).list()
    with pytest.raises(NotImplementedError, match=r"Neither must implement scan\(\) and read\(\), or list\(\)"):
        Neither([]).scan()
    with pytest.raises(NotImplementedError, match=r"read\(\)"):
        Neither([]).read(Entry("f", None, "f"))


def test_a_backend_that_keeps_no_tokens_reads_everything_and_writes_only_changes(tmp_path: Path) -> None:
    """The base class's _iter_tokens: every file is read, contents compared, as before tokens."""
    saved: list[str] = []

    class Forgetful(MemoryCache):
        def _save_many(self, packages: list[Package]) -> None:  # type: ignore[override]
            saved.extend(p.filename for p in packages)
            super()._save_many(
                [Package.restore(p.name, p.version, p.filename, p.last_modified, p.summary, p.data) for p in packages]
            )

        stores_tokens = False  # declared: this backend keeps no tokens
        _iter_tokens = Cache._iter_tokens

    for i in range(4):
        write_wheel(tmp_path, "fg", f"1.{i}")
    cache = Forgetful(MemoryCache.Settings(), storage(tmp_path))
    cache.reload_from_storage()
    assert all(t is None for _, t in cache._iter_tokens())
    saved.clear()
    result = cache.reload_from_storage(graceful=True)
    assert (result.unchanged, saved) == (4, [])
    os.unlink(tmp_path / "fg-1.0-py3-none-any.whl")
    write_wheel(tmp_path, "fg", "1.0", summary="new summary")
    result = cache.reload_from_storage(graceful=True)
    assert (result.updated, result.unchanged, saved) == (1, 3, ["fg-1.0-py3-none-any.whl"])


def test_load_cache_memory_keeps_tokens(tmp_path: Path) -> None:
    write_wheel(tmp_path, "mk", "1.0")
    cache = load_cache({"pypi.db": "memory", "pypi.storage": "file", "storage.dir": str(tmp_path)}, environ={})
    cache.reload_from_storage()
    [(filename, token)] = list(cache._iter_tokens())
    assert filename == "mk-1.0-py3-none-any.whl" and token is not None
