"""On S3 too the filename is the identity: an upload under another project replaces
the old object, and a listing that meets two objects of one filename indexes the
first in key order and reports the other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pkgcache import Package, load_cache
from tests.s3.conftest import make_storage, s3_config


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
            assert [s.path.split("/", 1)[1] for s in result.skipped] == ["projb/dup-1.0.tar.gz"]
        assert (result.added, result.updated, result.removed) == (0, 0, 0)
