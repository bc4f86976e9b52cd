"""On S3 too the filename is the identity: an upload under another project replaces
the old object, a listing that meets two objects of one filename indexes the
first in key order and reports the other, and a graceful reload's re-check keeps
a filename uploaded again elsewhere while it runs; pypicloud's hashes are read."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pkgcache import Package, load_cache
from tests.s3.test_s3_storage import put_like_pypicloud

from .conftest import make_storage, s3_config


def keys(raw: Any, bucket: str) -> list[str]:
    """The keys without pypicloud's hash folder (the same for one filename)."""
    return sorted(o["Key"].split("/", 1)[1] for o in raw.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_upload_under_another_project_replaces_the_object(
    moto_port: int, bucket: str, raw: Any, tmp_path: Path
) -> None:
    config = {"pypi.db": "sql", "db.url": f"sqlite:///{tmp_path}/c.db", **s3_config(moto_port, bucket)}
    with load_cache(config, environ={}) as cache:
        cache.upload("dup-1.0.tar.gz", b"a", name="proja", version="1.0")
        cache.upload("dup-1.0.tar.gz", b"b", name="projb", version="1.0")
        assert keys(raw, bucket) == ["projb/dup-1.0.tar.gz"]
        found = cache.fetch("dup-1.0.tar.gz")
        assert found is not None and found.name == "projb"
        cache.delete(found)
        cache.reload_from_storage(graceful=True, allow_empty=True)
        assert cache.fetch("dup-1.0.tar.gz") is None  # nothing comes back


def test_two_objects_of_one_filename_index_the_first_in_key_order(
    moto_port: int, bucket: str, raw: Any, tmp_path: Path
) -> None:
    writer = make_storage(moto_port, bucket)
    for project in ("projb", "proja"):
        writer.upload(Package(project, "1.0", "dup-1.0.tar.gz", summary=project), project.encode())
    config = {"pypi.db": "sql", "db.url": f"sqlite:///{tmp_path}/c.db", **s3_config(moto_port, bucket)}
    with load_cache(config, environ={}) as cache:
        for graceful in (False, True, True):
            result = cache.reload_from_storage(graceful=graceful)
            found = cache.fetch("dup-1.0.tar.gz")
            assert found is not None and (found.name, found.summary) == ("proja", "proja")
            [skipped] = result.skipped
            assert skipped.path.split("/", 1)[1] == "projb/dup-1.0.tar.gz"
            first = skipped.path.replace("projb/", "proja/")  # the same hash folder: one filename
            assert "same filename" in skipped.reason and repr(first) in skipped.reason
        assert (result.added, result.updated, result.removed) == (0, 0, 0)


@pytest.mark.parametrize(("project", "version"), [("hot", "2.0"), ("elsewhere", "2.0")], ids=["version", "project"])
def test_recheck_keeps_a_filename_uploaded_again_elsewhere_meanwhile(
    moto_port: int, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, project: str, version: str
) -> None:
    """Another process deletes ``hot-1.0.tar.gz`` (project hot, version 1.0) and uploads
    the same filename under another version (the same key: S3's keys hold no version)
    or another project (another key) just as the graceful reload re-checks what it
    wrote: the new file's row stays, its contents the new ones."""
    config = {"pypi.db": "sql", "db.url": f"sqlite:///{tmp_path}/c.db", **s3_config(moto_port, bucket)}
    with load_cache(config, environ={}) as cache, load_cache(config, environ={}) as writer:
        cache.upload("hot-1.0.tar.gz", b"old", name="hot", version="1.0")
        cache.clear_all()  # the reload adds the file, then re-checks it
        original = cache.storage.recheck
        acted: list[str] = []

        def recheck(packages: Sequence[Package]) -> list[Package | None]:
            if not acted and any(p.filename == "hot-1.0.tar.gz" for p in packages):
                held = writer.fetch("hot-1.0.tar.gz")
                assert held is not None and held.version == "1.0"  # the reload has written it
                writer.delete(held)
                writer.upload("hot-1.0.tar.gz", b"new", name=project, version=version)
                acted.append("wrote")
            return original(packages)

        monkeypatch.setattr(cache.storage, "recheck", recheck)
        result = cache.reload_from_storage(graceful=True)
        assert acted, "the writer never ran: the reload re-checked nothing"
        found = cache.fetch("hot-1.0.tar.gz")
        assert found is not None, f"the new upload's row was cleared ({result})"
        assert (found.name, found.version) == (project, version)
        assert found.data["hash_sha256"] == hashlib.sha256(b"new").hexdigest()
        monkeypatch.undo()
        again = cache.reload_from_storage(graceful=True)
        assert (again.added, again.updated, again.removed) == (0, 0, 0), again


def test_a_reload_keeps_the_sha256_pypicloud_recorded(moto_port: int, bucket: str, raw: Any, tmp_path: Path) -> None:
    """pypicloud records each file's sha256 in the object's metadata: a reload reads it
    from there (an index links every file with it) without downloading the object."""
    digest = hashlib.sha256(b"data").hexdigest()
    put_like_pypicloud(
        raw, bucket, "alpha/alpha-1.0.tar.gz", {"name": "alpha", "version": "1.0", "hash_sha256": digest}
    )
    config = {"pypi.db": "sql", "db.url": f"sqlite:///{tmp_path}/c.db", **s3_config(moto_port, bucket)}
    with load_cache(config, environ={}) as cache:
        calls: list[str] = []
        cache.storage.client.meta.events.register("before-send.s3.GetObject", lambda **kw: calls.append("get"))
        for graceful in (False, True):
            cache.reload_from_storage(graceful=graceful)
            found = cache.fetch("alpha-1.0.tar.gz")
            assert found is not None and found.data["hash_sha256"] == digest
        assert calls == []
