"""The S3 storage against moto's S3 server: round trips, pypicloud's buckets, reload safety, request counts."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pkgcache import Package, StorageUnavailable, load_cache
from pkgcache_s3 import S3Storage
from tests.s3.test_s3_layout import pypicloud_normalize, pypicloud_read
from tests.support import free_port, skip_or_fail

from .conftest import RequestCounter, make_storage, s3_config, storage_settings

WHEN = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)


def every_field(filename: str = "Foo_Bar-1.0-py3-none-any.whl", summary: str = "Café — 日本語 ✓ ") -> Package:
    return Package(
        "Foo_Bar",
        "1.0",
        filename,
        WHEN,
        summary,
        requires_python=">=3.9",
        hash_sha256="a" * 64,
        hash_md5="b" * 32,
        uploader="zoë",
        yanked=True,
        tags=["x", "ÿ"],
    )


def test_round_trip_of_every_field(moto_port: int, bucket: str) -> None:
    storage = make_storage(moto_port, bucket)
    package = every_field()
    storage.upload(package, b"wheel bytes")
    [listed] = list(storage.list())
    assert listed.same_as(package) and listed.summary == "Café — 日本語 ✓ "
    assert listed.last_modified == WHEN  # microseconds kept, though S3 keeps whole seconds
    loaded = storage.load(package)
    assert loaded is not None and loaded.same_as(package)
    with storage.open(package) as handle:
        assert handle.read() == b"wheel bytes"
    assert storage.skipped == []


def test_pypicloud_reads_what_we_write(moto_port: int, bucket: str, raw: Any) -> None:
    storage = make_storage(moto_port, bucket, **{"storage.prefix": "pkgs/"})
    storage.upload(every_field(summary="Plain ASCII summary"), b"x")
    digest = hashlib.md5(b"Foo_Bar-1.0-py3-none-any.whl").hexdigest()[:4]
    key = f"pkgs/{digest}/foo-bar/Foo_Bar-1.0-py3-none-any.whl"  # pypicloud's calculate_path
    seen = pypicloud_read(raw.head_object(Bucket=bucket, Key=key)["Metadata"])
    assert seen == {
        "name": "foo-bar",
        "version": "1.0",
        "summary": "Plain ASCII summary",
        "requires_python": ">=3.9",
        "hash_sha256": "a" * 64,
        "hash_md5": "b" * 32,
        "uploader": "=?utf-8?b?em/Dqw==?=",  # text to pypicloud, "zoë" to us
    }


def put_like_pypicloud(raw: Any, bucket: str, key: str, metadata: dict[str, str] | None) -> None:
    """What pypicloud's upload leaves in S3 (its older versions stored no metadata at all)."""
    raw.put_object(Bucket=bucket, Key=key, Body=b"data", Metadata=pypicloud_normalize(metadata or {}))


def test_a_bucket_pypicloud_wrote_is_read_unchanged(moto_port: int, bucket: str, raw: Any) -> None:
    h = hashlib.md5(b"alpha-1.0.tar.gz").hexdigest()[:4]
    put_like_pypicloud(
        raw,
        bucket,
        f"pypi/{h}/alpha/alpha-1.0.tar.gz",
        {
            "name": "alpha",
            "version": "1.0",
            "summary": "Ünïcode  stripped",
            "requires_python": ">=3.8",
            "uploader": "me",
        },
    )
    put_like_pypicloud(raw, bucket, "pypi/beta/beta-2.0-py3-none-any.whl", None)  # old, metadata-less, no hash
    put_like_pypicloud(raw, bucket, "pypi/junk/README.txt", None)
    put_like_pypicloud(raw, bucket, "other/gamma/gamma-1.0.tar.gz", {"name": "gamma", "version": "1.0"})
    storage = make_storage(moto_port, bucket, **{"storage.prefix": "pypi/"})

    found = {p.filename: p for p in storage.list()}
    assert sorted(found) == ["alpha-1.0.tar.gz", "beta-2.0-py3-none-any.whl"]
    alpha = found["alpha-1.0.tar.gz"]
    assert (alpha.name, alpha.version, alpha.summary) == ("alpha", "1.0", "Unicode stripped")
    assert alpha.data == {"requires_python": ">=3.8", "uploader": "me"}
    head = raw.head_object(Bucket=bucket, Key=f"pypi/{h}/alpha/alpha-1.0.tar.gz")
    assert alpha.last_modified == head["LastModified"]
    assert (found["beta-2.0-py3-none-any.whl"].name, found["beta-2.0-py3-none-any.whl"].version) == ("beta", "2.0")
    [skipped] = storage.skipped
    assert skipped.path == "pypi/junk/README.txt" and "README.txt" in skipped.reason
    # a file found off the layout keeps its key in its data, so any process reaches it where it is
    beta = found["beta-2.0-py3-none-any.whl"]
    assert beta.data == {"path": "pypi/beta/beta-2.0-py3-none-any.whl"} and "path" not in alpha.data
    fresh = make_storage(moto_port, bucket, **{"storage.prefix": "pypi/"})
    assert fresh.load(beta) is not None
    with fresh.open(beta) as handle:
        assert handle.read() == b"data"
    fresh.delete(beta)
    assert raw.list_objects_v2(Bucket=bucket, Prefix="pypi/beta/")["KeyCount"] == 0


@pytest.mark.parametrize(("prepend_hash", "prefix"), [(True, ""), (False, ""), (True, "a/b/"), (False, "simple-")])
def test_prepend_hash_and_prefix_place_keys_as_pypicloud_does(
    moto_port: int, bucket: str, raw: Any, prepend_hash: bool, prefix: str
) -> None:
    keys = {"storage.prepend_hash": str(prepend_hash).lower(), "storage.prefix": prefix}
    storage = make_storage(moto_port, bucket, **keys)
    package = Package("pkg", "1.0", "pkg-1.0.tar.gz", WHEN)
    storage.upload(package, b"x")
    raw.put_object(Bucket=bucket, Key="elsewhere/pkg/pkg-9.0.tar.gz", Body=b"y")  # outside the prefix
    expected = (
        prefix + (hashlib.md5(b"pkg-1.0.tar.gz").hexdigest()[:4] + "/" if prepend_hash else "") + "pkg/pkg-1.0.tar.gz"
    )
    assert expected in [o["Key"] for o in raw.list_objects_v2(Bucket=bucket)["Contents"]]
    if prefix:
        assert [p.filename for p in storage.list()] == ["pkg-1.0.tar.gz"]
    loaded = storage.load(package)
    assert loaded is not None and loaded.same_as(package)
    fresh = make_storage(moto_port, bucket, **keys)  # a process that never listed finds it by the layout
    assert fresh.load(package) is not None
    storage.delete(package)
    assert storage.load(package) is None and fresh.load(package) is None


def test_upload_applies_acl_storage_class_and_encryption(moto_port: int, bucket: str, raw: Any) -> None:
    keys = {
        "storage.object_acl": "public-read",
        "storage.storage_class": "STANDARD_IA",
        "storage.server_side_encryption": "AES256",
        "storage.prepend_hash": "false",
    }
    storage = make_storage(moto_port, bucket, **keys)
    storage.upload(Package("pkg", "1.0", "pkg-1.0.tar.gz"), b"x")
    head = raw.head_object(Bucket=bucket, Key="pkg/pkg-1.0.tar.gz")
    assert head["StorageClass"] == "STANDARD_IA" and head["ServerSideEncryption"] == "AES256"
    grants = raw.get_object_acl(Bucket=bucket, Key="pkg/pkg-1.0.tar.gz")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("/global/AllUsers") and g["Permission"] == "READ" for g in grants)


def test_urls_presigned_and_public(moto_port: int, bucket: str) -> None:
    storage = make_storage(moto_port, bucket, **{"storage.expire_after": "600"})
    package = Package("pkg", "1.0", "pkg-1.0.tar.gz")
    storage.upload(package, b"content")
    url = storage.get_url(package)
    query = parse_qs(urlsplit(url).query)
    if "X-Amz-Expires" in query:  # SigV4: a lifetime
        assert query["X-Amz-Expires"] == ["600"]
    else:  # SigV2: an end time
        assert 590 <= int(query["Expires"][0]) - time.time() <= 610
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"content"
    public = make_storage(moto_port, bucket, **{"storage.public_url": "true"})
    key = storage.key_of(package)
    assert public.get_url(package) == f"http://127.0.0.1:{moto_port}/{bucket}/{key}"
    aws = S3Storage(
        storage_settings(moto_port, "my-bucket", **{"storage.public_url": "true"}).model_copy(
            update={"endpoint_url": None}
        )
    )
    assert aws.get_url(package) == f"https://s3.us-east-1.amazonaws.com/my-bucket/{key}"


def test_open_and_delete_of_absent_files(moto_port: int, bucket: str) -> None:
    storage = make_storage(moto_port, bucket)
    package = Package("pkg", "1.0", "pkg-1.0.tar.gz")
    with pytest.raises(FileNotFoundError):
        storage.open(package)
    storage.delete(package)  # no error
    assert storage.load(package) is None


# -- reload safety --------------------------------------------------------------------------------
def test_a_missing_bucket_is_an_error_and_the_cache_is_untouched(moto_port: int, bucket: str, raw: Any) -> None:
    config = {"pypi.db": "memory", **s3_config(moto_port, bucket)}
    with load_cache(config, environ={}) as cache:
        cache.upload("pkg-1.0.tar.gz", b"a")
        cache.upload("pkg-2.0.tar.gz", b"b")
        assert cache.reload_from_storage().unchanged == 2
        for obj in raw.list_objects_v2(Bucket=bucket)["Contents"]:
            raw.delete_object(Bucket=bucket, Key=obj["Key"])
        raw.delete_bucket(Bucket=bucket)
        for graceful in (False, True):
            with pytest.raises(StorageUnavailable) as caught:
                cache.reload_from_storage(graceful=graceful)
            message = str(caught.value)
            assert f"bucket '{bucket}' does not exist or is not accessible" in message and "\n" not in message
        assert sorted(p.filename for p in cache.all("pkg")) == ["pkg-1.0.tar.gz", "pkg-2.0.tar.gz"]
        ok, why = cache.storage.check_health()
        assert not ok and "does not exist" in why


def test_an_unreachable_endpoint_is_one_line(moto_port: int) -> None:
    port = free_port()
    storage = make_storage(
        moto_port,
        "b-1",
        **{
            "storage.endpoint_url": f"http://127.0.0.1:{port}",
            "storage.max_attempts": "1",
            "storage.connect_timeout": "2",
        },
    )
    with pytest.raises(StorageUnavailable, match=rf"S3 endpoint http://127.0.0.1:{port} is unreachable") as caught:
        list(storage.list())
    assert "\n" not in str(caught.value)
    ok, why = storage.check_health()
    assert not ok and "unreachable" in why


class SlowDown(BaseHTTPRequestHandler):
    """An S3 endpoint that throttles every request, counting them."""

    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_throttling_is_retried_a_bounded_number_of_times(moto_port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowDown)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        storage = make_storage(moto_port, "b-1", **{"storage.endpoint_url": endpoint, "storage.max_attempts": "3"})
        with pytest.raises(StorageUnavailable, match="SlowDown") as caught:
            list(storage.list())
        assert "\n" not in str(caught.value)
        assert SlowDown.requests == 3
    finally:
        server.shutdown()
        server.server_close()


def test_an_empty_bucket_lists_nothing_and_is_healthy(moto_port: int, bucket: str) -> None:
    storage = make_storage(moto_port, bucket)
    assert list(storage.list()) == [] and storage.skipped == []
    assert storage.check_health() == (True, f"bucket '{bucket}' is reachable")


def test_an_unreadable_object_is_skipped_and_listing_goes_on(moto_port: int, bucket: str, raw: Any) -> None:
    raw.put_object(Bucket=bucket, Key="bad/bad-1.0.tar.gz", Body=b"x", Metadata={"pkgcache-modified": "yesterday"})
    storage = make_storage(moto_port, bucket)
    storage.upload(Package("good", "1.0", "good-1.0.tar.gz"), b"x")
    assert [p.filename for p in storage.list()] == ["good-1.0.tar.gz"]
    [skipped] = storage.skipped
    assert skipped.path == "bad/bad-1.0.tar.gz" and "pkgcache-modified is not an ISO time" in skipped.reason


# -- speed, by counting ---------------------------------------------------------------------------
def settle(raw: Any, bucket: str) -> None:
    """Wait until the server's clock is past the second of the newest write (S3 times have whole seconds)."""
    newest = max(o["LastModified"] for o in raw.list_objects_v2(Bucket=bucket)["Contents"])
    for _ in range(100):
        if parsedate_to_datetime(raw.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPHeaders"]["date"]) > newest:
            return
        time.sleep(0.05)  # a clock to pass, not a thread to wait for
    raise AssertionError("the server's clock did not move")


def thirty_settled(moto_port: int, bucket: str, raw: Any) -> tuple[S3Storage, list[Package]]:
    """A writer and the 30 files it uploaded, the server's clock past them."""
    writer = make_storage(moto_port, bucket)
    packages = [Package("proj", f"1.{i}", f"proj-1.{i}.tar.gz", WHEN) for i in range(30)]
    for package in packages:
        writer.upload(package, b"x")
    settle(raw, bucket)
    return writer, packages


def test_scan_lists_tokens_and_read_heads_one_object(moto_port: int, bucket: str) -> None:
    storage = make_storage(moto_port, bucket)
    storage.upload(Package("proj", "1.0", "proj-1.0.tar.gz", WHEN), b"x")
    counter = RequestCounter(storage.client)
    [entry] = list(storage.scan())
    assert counter.counts == {"ListObjectsV2": 1}
    assert entry.filename == "proj-1.0.tar.gz" and entry.path == storage.key_of(Package("proj", "1.0", entry.filename))
    storage.upload(Package("proj", "1.0", "proj-1.0.tar.gz", WHEN), b"longer content")
    [changed] = list(storage.scan())
    assert changed.path == entry.path and changed.token != entry.token
    package = storage.read(changed)
    assert package is not None and package.filename == "proj-1.0.tar.gz"
    assert counter.counts == {"ListObjectsV2": 2, "PutObject": 1, "HeadObject": 1}


def test_same_bytes_with_new_metadata_change_the_token(moto_port: int, bucket: str, raw: Any) -> None:
    writer, _packages = thirty_settled(moto_port, bucket, raw)
    storage = make_storage(moto_port, bucket)
    before = {e.filename: e.token for e in storage.scan()}
    read = {p.filename: p.token for p in storage.list()}
    assert read == before  # settled objects: the HEAD's token is the listing's
    writer.upload(Package("proj", "1.3", "proj-1.3.tar.gz", WHEN, "changed"), b"x")
    settle(raw, bucket)
    after = {e.filename: e.token for e in storage.scan()}
    assert {f for f in after if after[f] != before[f]} == {"proj-1.3.tar.gz"}


def test_an_object_read_in_the_second_it_was_written_gets_no_token(moto_port: int, bucket: str, raw: Any) -> None:
    storage = make_storage(moto_port, bucket)
    for _attempt in range(20):  # until a HEAD answers within the second of the write
        raw.put_object(Bucket=bucket, Key="p/p-1.0.tar.gz", Body=b"x")
        [entry] = list(storage.scan())
        package = storage.read(entry)
        assert package is not None
        if package.token is None:
            break
    else:
        pytest.fail("no HEAD answered within the second of its write in 20 tries")
    settle(raw, bucket)
    settled = storage.read(entry)
    assert settled is not None and settled.token == entry.token


def test_a_missing_bucket_raises_when_scan_is_called(moto_port: int) -> None:
    storage = make_storage(moto_port, f"absent-{uuid.uuid4().hex[:8]}")
    with pytest.raises(StorageUnavailable, match="does not exist or is not accessible"):
        storage.scan()  # not iterated: the first page is asked for at once


GRACEFUL_IN_A_NEW_PROCESS = """
import json, sys
from pkgcache import load_cache
from tests.support import RequestCounter
with load_cache(json.loads(sys.argv[1]), environ={}) as cache:
    counter = RequestCounter(cache.storage.client)
    result = cache.reload_from_storage(graceful=True)
    print(json.dumps({"result": result.as_dict(), "requests": dict(counter.counts)}))
"""


def graceful_in_a_new_process(config: dict[str, Any]) -> dict[str, Any]:
    """A graceful reload by a process that never saw the bucket: only the cache's stored tokens help it."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", GRACEFUL_IN_A_NEW_PROCESS, json.dumps(config)],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_a_graceful_reload_in_a_new_process_heads_only_what_changed(
    moto_port: int, bucket: str, raw: Any, tmp_path: Path
) -> None:
    writer, packages = thirty_settled(moto_port, bucket, raw)
    config = {"pypi.db": "sql", "db.url": f"sqlite:///{tmp_path}/cache.db", **s3_config(moto_port, bucket)}
    with load_cache(config, environ={}) as cache:
        assert cache.reload_from_storage().added == 30  # every token settled: stored with its file

    unchanged = graceful_in_a_new_process(config)
    assert unchanged["requests"] == {"ListObjectsV2": 1}  # the list page alone: no HEAD at all
    assert unchanged["result"]["unchanged"] == 30

    # k = 6 of 30 change: 3 rewritten (same bytes, new summary), 2 added, 1 deleted
    for i in (3, 4, 5):
        writer.upload(Package("proj", f"1.{i}", f"proj-1.{i}.tar.gz", WHEN, "changed"), b"x")
    for version in ("2.0", "2.1"):
        writer.upload(Package("proj", version, f"proj-{version}.tar.gz", WHEN), b"x")
    writer.delete(packages[7])
    settle(raw, bucket)  # else what is read in the second of its write gets no token, and is HEADed again
    changed = graceful_in_a_new_process(config)
    result = changed["result"]
    assert (result["updated"], result["added"], result["removed"], result["unchanged"]) == (3, 2, 1, 26)
    # exactly: the list page, and one HEAD per rewritten or added file to read it; then the
    # re-check of the 5 written files (core's _write) by one list page, as the listing has fewer
    # pages than files to re-check, their tokens unchanged; then per deleted file, one HEAD to
    # confirm it is gone and one after clearing it (core's _remove_gone): none for the 24 unchanged
    assert changed["requests"] == {"ListObjectsV2": 1 + 1, "HeadObject": (3 + 2) + 2 * 1}
    with load_cache(config, environ={}) as cache:
        assert cache.fetch("proj-1.4.tar.gz").summary == "changed"  # type: ignore[union-attr]
        assert cache.fetch("proj-2.1.tar.gz") is not None and cache.fetch("proj-1.7.tar.gz") is None


@pytest.mark.parametrize("listed", [True, False], ids=["by-listing", "by-heads"])
def test_recheck_answers_as_load_does(moto_port: int, bucket: str, raw: Any, listed: bool) -> None:
    """Unchanged, rewritten, deleted and never-stored files, re-checked by one list page (a
    storage that listed a bucket of fewer pages than files asked) or by one HEAD each."""
    writer, _packages = thirty_settled(moto_port, bucket, raw)
    reader = make_storage(moto_port, bucket)
    read = {p.filename: p for p in reader.list()}
    storage = reader if listed else make_storage(moto_port, bucket)  # a new storage never listed
    asked = [read[f"proj-1.{i}.tar.gz"] for i in range(5)] + [Package("proj", "9.9", "proj-9.9.tar.gz", WHEN)]
    writer.upload(Package("proj", "1.1", "proj-1.1.tar.gz", WHEN, "rewritten"), b"x")
    writer.delete(asked[2])
    counter = RequestCounter(storage.client)
    answers = storage.recheck(asked)
    assert counter.counts == ({"ListObjectsV2": 1, "HeadObject": 1} if listed else {"HeadObject": 6})
    loaded = [storage.load(p) for p in asked]
    assert [a is None for a in answers] == [x is None for x in loaded] == [False, False, True, False, False, True]
    assert all(a.same_as(x) for a, x in zip(answers, loaded, strict=True) if a is not None and x is not None)
    assert answers[1] is not None and answers[1].summary == "rewritten"
    if listed:  # an unchanged token answers with the package itself, read by nobody
        assert answers[0] is asked[0] and answers[3] is asked[3] and answers[4] is asked[4]


def test_recheck_lists_the_pages_again_and_follows_a_page_pushed_back(
    moto_port: int, bucket: str, raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages of the last listing that hold files to re-check are listed again at once;
    objects added before a page since push its files out of reach of one request, and
    those are found by listing on from there. Pages of 5 objects stand for S3's 1,000."""
    import pkgcache_s3._relisting

    storage = make_storage(moto_port, bucket, **{"storage.prepend_hash": "false"})
    for i in range(20):
        storage.upload(Package("a", f"1.{i:02d}", f"a-1.{i:02d}.tar.gz", WHEN), b"x")
    settle(raw, bucket)
    read = {p.filename: p for p in storage.list()}
    keys = sorted(storage.key_of(p) for p in read.values())
    monkeypatch.setattr(pkgcache_s3._relisting, "PAGE", 5)
    storage.page_ends = keys[4::5]  # as if listed 5 at a time
    for n in range(3):  # before page 1's files: its re-listing from keys[4] stops short of keys[8]
        raw.put_object(Bucket=bucket, Key=f"{keys[4]}.x{n}", Body=b"y")
    asked = [read[f"a-1.{i:02d}.tar.gz"] for i in (1, 3, 8, 13, 18)]
    storage.upload(Package("a", "1.13", "a-1.13.tar.gz", WHEN, "rewritten"), b"x")
    storage.delete(asked[4])
    counter = RequestCounter(storage.client)
    answers = storage.recheck(asked)
    # pages 0 to 3 at once, one more after page 1's short reach, one HEAD of the rewritten file
    assert counter.counts == {"ListObjectsV2": 4 + 1, "HeadObject": 1}
    assert answers[0] is asked[0] and answers[1] is asked[1] and answers[2] is asked[2] and answers[4] is None
    assert answers[3] is not None and answers[3].summary == "rewritten"


def put_many_like_pypicloud(raw: Any, bucket: str, indexes: range | list[int], summary: str) -> None:
    """Objects in pypicloud's layout (hashed keys, ASCII metadata), written 8 at a time, then settled."""

    def put(i: int) -> None:
        name, filename = f"p{i // 10}", f"p{i // 10}-1.{i % 10}.tar.gz"
        key = hashlib.md5(filename.encode()).hexdigest()[:4] + f"/{name}/{filename}"
        raw.put_object(
            Bucket=bucket, Key=key, Body=b"", Metadata={"name": name, "version": f"1.{i % 10}", "summary": summary}
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, indexes))
    settle(raw, bucket)


def test_a_graceful_reload_with_1_percent_changed_costs_the_pages_and_the_changed_files(
    moto_port: int, bucket: str, raw: Any, tmp_path: Path
) -> None:
    """The issue's bound, counted over a listing of several pages: list pages + changed
    objects + a few, where the few are the re-check's list pages (no more than the
    listing's); at least 50 times fewer requests than pypicloud's listing (a HEAD per object)."""
    n, pages = 1500, 2
    put_many_like_pypicloud(raw, bucket, range(n), "first")
    config = {"pypi.db": "sql", "db.url": f"sqlite:///{tmp_path}/cache.db", **s3_config(moto_port, bucket)}
    with load_cache(config, environ={}) as cache:
        assert cache.reload_from_storage().added == n
    changed = range(0, n, 100)
    put_many_like_pypicloud(raw, bucket, changed, "changed")
    with load_cache(config, environ={}) as cache:  # a new storage: it knows only the cache's tokens
        counter = RequestCounter(cache.storage.client)  # type: ignore[attr-defined]
        result = cache.reload_from_storage(graceful=True)
        assert cache.fetch("p0-1.0.tar.gz").summary == "changed"  # type: ignore[union-attr]
        assert sum(1 for _ in cache._iter_tokens()) == n  # the re-check found every written file on its page
    assert (result.updated, result.unchanged, result.added, result.removed) == (len(changed), n - len(changed), 0, 0)
    assert set(counter.counts) == {"ListObjectsV2", "HeadObject"}
    assert counter.counts["HeadObject"] == len(changed)  # the reads; the re-check HEADs none, no token moved
    assert pages < counter.counts["ListObjectsV2"] <= 2 * pages  # the listing, then the re-check's pages
    assert counter.total <= pages + len(changed) + pages
    assert 50 * counter.total <= n + pages  # pypicloud's listing: the pages and a HEAD per object


@pytest.mark.parametrize("rechecked", [True, False], ids=["rechecked", "control-without-recheck"])
def test_a_delete_and_a_rewrite_between_read_and_write_are_caught_by_the_recheck(
    moto_port: int, bucket: str, raw: Any, tmp_path: Path, rechecked: bool
) -> None:
    """Another process deletes one file and rewrites another after the reload read them and
    before it writes them, each storage first, then its cache (as ``Cache.delete`` and
    ``Cache.upload`` do): the reload's stale writes must not win. The control run, with the
    re-check turned off, shows that the race happened and would have left the cache wrong."""
    writer, _packages = thirty_settled(moto_port, bucket, raw)
    config = {"pypi.db": "sql", "db.url": f"sqlite:///{tmp_path}/cache.db", **s3_config(moto_port, bucket)}
    with load_cache(config, environ={}) as cache, load_cache(config, environ={}) as other:
        assert cache.reload_from_storage().added == 30
        for i in (3, 4, 5):
            writer.upload(Package("proj", f"1.{i}", f"proj-1.{i}.tar.gz", WHEN, "changed"), b"x")
        settle(raw, bucket)
        storage: Any = cache.storage
        read_many, raced = storage.read_many, []

        def read_then_race(entries: Any) -> Any:
            fresh = list(read_many(entries))  # what the reload read, the three rewritten files ...
            if fresh and not raced:  # ... then the other process writes, before the reload does
                doomed = other.fetch("proj-1.3.tar.gz")
                assert doomed is not None and doomed.summary is None  # the other cache has the old file
                other.delete(doomed)
                other.upload("proj-1.4.tar.gz", b"new bytes", name="proj", version="1.4", summary="third")
                raced.extend(p.filename for p in fresh)
            yield from fresh

        storage.read_many = read_then_race
        if not rechecked:
            storage.recheck = list  # "everything is as the reload read it"
        counter = RequestCounter(storage.client)
        result = cache.reload_from_storage(graceful=True)
        assert sorted(raced) == ["proj-1.3.tar.gz", "proj-1.4.tar.gz", "proj-1.5.tar.gz"]
        assert cache.fetch("proj-1.5.tar.gz").summary == "changed"  # type: ignore[union-attr]
        if rechecked:
            assert cache.fetch("proj-1.3.tar.gz") is None and other.fetch("proj-1.3.tar.gz") is None
            assert cache.fetch("proj-1.4.tar.gz").summary == "third"  # type: ignore[union-attr]
            assert (result.updated, result.unchanged) == (2, 27)  # 1.3, gone from the cache when compared: neither
            # the listing; the three reads; the re-check by one list page (fewer than three HEADs),
            # which finds 1.3 gone and 1.4's token moved, and one HEAD to read 1.4 again; then one
            # more HEAD to ask again about 1.3 once cleared (an upload may have come between)
            assert counter.counts == {"ListObjectsV2": 1 + 1, "HeadObject": 3 + 1 + 1}
        else:  # the stale writes won: a deleted file resurrected, a new upload overwritten
            assert cache.fetch("proj-1.3.tar.gz") is not None
            assert cache.fetch("proj-1.4.tar.gz").summary == "changed"  # type: ignore[union-attr]


class InFlight:
    """The most requests of one operation a client had on the wire at once (botocore's event hooks)."""

    def __init__(self, client: Any, operation: str) -> None:
        self.lock, self.now, self.peak = threading.Lock(), 0, 0
        client.meta.events.register(f"before-send.s3.{operation}", self._sent)
        client.meta.events.register(f"after-call.s3.{operation}", self._done)

    def _sent(self, **kwargs: Any) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def _done(self, **kwargs: Any) -> None:
        with self.lock:
            self.now -= 1


def test_a_first_listing_heads_objects_concurrently(moto_port: int, bucket: str) -> None:
    writer = make_storage(moto_port, bucket)
    for i in range(40):
        writer.upload(Package("proj", f"1.{i}", f"proj-1.{i}.tar.gz"), b"x")
    most = 0
    for _attempt in range(10):  # overlap depends on the scheduler; loop until it is seen
        storage = make_storage(moto_port, bucket, **{"storage.head_concurrency": "8"})
        flight = InFlight(storage.client, "HeadObject")
        assert len(list(storage.list())) == 40
        most = max(most, flight.peak)
        if most >= 2:
            break
    assert 2 <= most <= 8  # HEADs overlapped, and never more than the pool allows


# -- through a cache --------------------------------------------------------------------------------
def backend_keys(backend: str, tmp_path: Any, moto_port: int) -> dict[str, Any]:
    if backend == "memory":
        return {"pypi.db": "memory"}
    if backend == "sql":
        return {"pypi.db": "sql", "db.url": f"sqlite:///{tmp_path}/cache.db"}
    if backend == "redis":
        from tests.support import answers

        if not answers(6379):
            skip_or_fail("redis server not reachable at 127.0.0.1:6379")
        return {"pypi.db": "redis", "db.url": "redis://127.0.0.1:6379/9", "db.prefix": f"s3-{uuid.uuid4().hex[:8]}:"}
    from tests.support import dynamo_config

    return {k: v for k, v in dynamo_config(moto_port).items() if k.startswith(("pypi.db", "db."))}


@pytest.mark.parametrize("backend", ["memory", "sql", "redis", "dynamo"])
@pytest.mark.parametrize("graceful", [False, True])
def test_a_config_with_s3_storage_reloads_uploads_and_deletes(
    backend: str, graceful: bool, tmp_path: Any, moto_port: int, bucket: str
) -> None:
    config = {**backend_keys(backend, tmp_path, moto_port), **s3_config(moto_port, bucket)}
    other = make_storage(moto_port, bucket)  # another process writing the same bucket
    other.upload(every_field(), b"w")
    with load_cache(config, environ={}) as cache:
        cache.clear_all()
        assert cache.reload_from_storage(graceful=graceful).added == 1
        [cached] = cache.all("foo-bar")
        assert cached.same_as(every_field())

        other.upload(Package("new-one", "0.1", "new_one-0.1.tar.gz", WHEN, "ñ"), b"n")
        result = cache.reload_from_storage(graceful=graceful)
        assert (result.added, result.unchanged) == (1, 1)
        [new] = cache.all("new-one")
        assert new.summary == "ñ" and new.last_modified == WHEN

        other.delete(every_field())
        result = cache.reload_from_storage(graceful=graceful)
        assert result.removed == 1 and cache.all("foo-bar") == []
        cache.clear_all()
