"""Kit tests: the filename is the identity (mixed into :class:`CacheConformance`).

One filename is one file, whatever project or version it is uploaded under:
an upload under another project replaces the old copy (or is refused without
overwrite), a listing that meets two copies indexes the first in path order
and reports the other, and a graceful reload's re-check follows a filename
uploaded again under another version while it runs, instead of clearing it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from .. import Cache, Package, PackageExists
from ._base import KitBase

__all__ = ["FilenameIdentity"]


def _copies(storage_dir: Path, filename: str) -> list[str]:
    return sorted(str(p.relative_to(storage_dir)) for p in storage_dir.rglob(filename))


class FilenameIdentity(KitBase):
    """Uploads, listings and re-checks treat the filename as the identity."""

    def test_upload_under_another_project_replaces_the_old_copy(self, cache: Cache, storage_dir: Path) -> None:
        cache.upload("dup-1.0.tar.gz", b"first", name="proja", version="1.0")
        with pytest.raises(PackageExists, match="proja"):
            cache.upload("dup-1.0.tar.gz", b"second", name="projb", version="1.0", overwrite=False)
        assert _copies(storage_dir, "dup-1.0.tar.gz") == ["proja/1.0/dup-1.0.tar.gz"]
        cache.upload("dup-1.0.tar.gz", b"second", name="projb", version="1.0")
        assert _copies(storage_dir, "dup-1.0.tar.gz") == ["projb/1.0/dup-1.0.tar.gz"]
        assert cache.distinct() == ["projb"]
        for _ in range(2):  # settles: no reload flips the row between the projects
            result = cache.reload_from_storage(graceful=True)
            found = cache.fetch("dup-1.0.tar.gz")
            assert found is not None and found.name == "projb"
        assert (result.added, result.updated, result.removed) == (0, 0, 0)
        assert found is not None
        cache.delete(found)
        cache.reload_from_storage(graceful=True, allow_empty=True)
        assert cache.fetch("dup-1.0.tar.gz") is None and cache.distinct() == []

    def test_listing_two_files_of_one_filename_indexes_the_first(self, cache: Cache, storage_dir: Path) -> None:
        """Two copies put there by hand: the first in path order is indexed, the other
        reported once per reload; reloads, plain or graceful, settle on the same one."""
        for project in ("projb", "proja"):
            folder = storage_dir / project / "1.0"
            folder.mkdir(parents=True)
            (folder / "dup-1.0.tar.gz").write_bytes(project.encode())
            (folder / "dup-1.0.tar.gz.meta").write_text(json.dumps({"summary": project}))
        for graceful in (False, True, True):
            result = cache.reload_from_storage(graceful=graceful)
            found = cache.fetch("dup-1.0.tar.gz")
            assert found is not None and (found.name, found.summary) == ("proja", "proja")
            assert [Path(s.path).parent.parent.name for s in result.skipped] == ["projb"]
            first = os.path.join(str(storage_dir), "proja", "1.0", "dup-1.0.tar.gz")
            assert "same filename" in result.skipped[0].reason and repr(first) in result.skipped[0].reason
        assert (result.added, result.updated, result.removed) == (0, 0, 0)
        assert cache.distinct() == ["proja"]

    @pytest.mark.parametrize(("project", "version"), [("hot", "2.0"), ("elsewhere", "2.0")], ids=["version", "project"])
    def test_recheck_follows_a_filename_uploaded_again_elsewhere(
        self, cache: Cache, storage_dir: Path, monkeypatch: pytest.MonkeyPatch, project: str, version: str
    ) -> None:
        """A writer deletes ``hot-1.0.tar.gz`` (project hot, version 1.0) and uploads the
        same filename under another version, or another project, just as the graceful
        reload re-checks what it wrote: the reload must keep the new file (asked about by
        filename, and by the row the cache holds now), not clear its row because the
        place it read is empty."""
        cache.upload("hot-1.0.tar.gz", b"old", name="hot", version="1.0")
        cache.clear_all()  # the reload adds the file, then re-checks it
        writer = self.make_cache(storage_dir) if self.shared_state else cache
        storage = cache.storage
        original = storage.recheck
        acted: list[str] = []

        def recheck(packages: Sequence[Package]) -> list[Package | None]:
            if not acted and any(p.filename == "hot-1.0.tar.gz" for p in packages):
                held = writer.fetch("hot-1.0.tar.gz")
                assert held is not None and held.version == "1.0"  # the reload has written it
                if writer is cache:  # as another process: a storage object of its own
                    writer.storage = type(storage)(storage.settings)
                try:
                    writer.delete(held)
                    writer.upload("hot-1.0.tar.gz", b"new", name=project, version=version)
                finally:
                    if writer is cache:
                        writer.storage = storage
                acted.append("wrote")
            return original(packages)

        monkeypatch.setattr(storage, "recheck", recheck)
        try:
            result = cache.reload_from_storage(graceful=True)
        finally:
            if writer is not cache:
                writer.close()
        assert acted, "the writer never ran: the reload re-checked nothing"
        found = cache.fetch("hot-1.0.tar.gz")
        assert found is not None, f"the new upload's row was cleared ({result})"
        assert (found.name, found.version) == (project, version)
        assert found.data["hash_sha256"] == hashlib.sha256(b"new").hexdigest()
        monkeypatch.undo()
        again = cache.reload_from_storage(graceful=True)
        assert (again.added, again.updated, again.removed) == (0, 0, 0), again

    @pytest.mark.parametrize("graceful", [False, True], ids=["plain", "graceful"])
    def test_reload_without_clear_removes_nothing(self, cache: Cache, storage_dir: Path, graceful: bool) -> None:
        """``clear=False`` (the command line's ``--keep``) only adds and updates, graceful or
        not. pypicloud's graceful reload ignores ``clear`` and removes files gone from
        the storage; here ``clear=True`` (the default) does that."""
        gone = cache.upload("gone-1.0.tar.gz", b"gone", name="gone", version="1.0")
        cache.upload("kept-1.0.tar.gz", b"kept", name="kept", version="1.0")
        cache.storage.delete(gone)
        cache.reload_from_storage(clear=False, graceful=graceful)
        assert cache.fetch("gone-1.0.tar.gz") is not None
        result = cache.reload_from_storage(clear=True, graceful=graceful)
        assert cache.fetch("gone-1.0.tar.gz") is None and result.removed == 1
        assert cache.distinct() == ["kept"]
