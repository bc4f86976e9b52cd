"""The HTTP side of the index, request by request: negotiation, ETags, redirects,
access, upload refusals, traversal paths."""

from __future__ import annotations

import base64
import gzip
import hashlib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import Served, build_wheel, password_hash, write_config

PIP_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
UV_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
JSON = "application/vnd.pypi.simple.v1+json"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the tests that only read (and one upload of a project of its own)."""
    tmp_path = tmp_path_factory.mktemp("served")
    storage = tmp_path / "storage"
    build_wheel(storage, "demo-pkg", "1.0", requires=">=3.8,<4")
    for i in range(40):  # a page long enough to be sent compressed
        build_wheel(storage / "many" / f"0.{i}", "many", f"0.{i}")
    outside = tmp_path / "secret.txt"
    outside.write_text("TOP-SECRET-OUTSIDE")
    config = write_config(
        tmp_path / "pypi.ini",
        {
            "pypi.db": "sql",
            "db.url": f"sqlite:///{tmp_path}/cache.db",
            "storage.dir": str(storage),
            "pypi.fallback": "none",
            "user.alice": password_hash("s3cret"),
            "user.reader": password_hash("r3ad"),
            "auth.admins": "alice",
            "pypi.max_upload_bytes": "100000",
        },
    )
    server = Served(config)
    server.storage = storage
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("accept", "query", "expected"),
    [
        (PIP_ACCEPT, "", JSON),
        (UV_ACCEPT, "", JSON),
        ("text/html", "", "text/html"),
        (None, "", "text/html"),
        ("*/*", "", "text/html"),
        ("application/vnd.pypi.simple.v1+html", "", "application/vnd.pypi.simple.v1+html"),
        ("application/vnd.pypi.simple.latest+json", "", JSON),
        ("text/html", "?format=" + JSON, JSON),
        ("application/vnd.pypi.simple.v1+json;q=0, text/html;q=0.5", "", "text/html"),
    ],
)
def test_content_negotiation(server: Served, accept: str | None, query: str, expected: str) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    for path in ("/simple/", "/simple/demo-pkg/"):
        response = httpx.get(f"{server.url}{path}{query}", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].split(";")[0] == expected
        assert "Accept" in response.headers["vary"]


@pytest.mark.parametrize(
    "accept", ["image/png", "application/vnd.pypi.simple.v2+json", "text/html;q=0", "text/*;q=abc"]
)
def test_nothing_acceptable_is_406(server: Served, accept: str) -> None:
    response = httpx.get(f"{server.url}/simple/demo-pkg/", headers={"Accept": accept})
    assert response.status_code == 406 and JSON in response.text
    assert httpx.get(f"{server.url}/simple/?format=text/plain").status_code == 406


def test_pages_carry_hashes_metadata_and_escaped_requires_python(server: Served) -> None:
    storage = server.storage
    html = httpx.get(f"{server.url}/simple/demo-pkg/").text
    wheel = storage / "demo_pkg-1.0-py3-none-any.whl"
    assert f"#sha256={hashlib.sha256(wheel.read_bytes()).hexdigest()}" in html
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in html
    assert 'data-core-metadata="sha256=' in html and 'data-dist-info-metadata="sha256=' in html
    assert '<meta name="pypi:repository-version" content="1.1">' in html
    page = httpx.get(f"{server.url}/simple/demo-pkg/", headers={"Accept": JSON}).json()
    assert page["meta"]["api-version"] == "1.1" and page["versions"] == ["1.0"]
    [entry] = page["files"]
    assert entry["size"] == wheel.stat().st_size and entry["upload-time"].endswith("Z")
    metadata = httpx.get(f"{server.url}/simple/demo-pkg/{entry['url']}.metadata")
    assert hashlib.sha256(metadata.content).hexdigest() == entry["core-metadata"]["sha256"]


def test_etag_304_and_a_new_etag_after_an_upload(server: Served, tmp_path: Path) -> None:
    url = f"{server.url}/simple/many/"
    first = httpx.get(url, headers={"Accept": PIP_ACCEPT})
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "max-age=0, must-revalidate"
    cached = httpx.get(url, headers={"Accept": PIP_ACCEPT, "If-None-Match": etag})
    assert cached.status_code == 304 and cached.headers["etag"] == etag and not cached.content
    html = httpx.get(url, headers={"If-None-Match": etag})  # the ETag names the format too
    assert html.status_code == 200 and html.headers["etag"] != etag
    dist = build_wheel(tmp_path / "dist", "many", "2.0")
    uploaded = httpx.post(
        f"{server.url}/simple/",
        data={":action": "file_upload", "name": "many", "version": "2.0"},
        files={"content": (dist.name, dist.read_bytes())},
        headers=basic("alice", "s3cret"),
    )
    assert uploaded.status_code == 200, uploaded.text
    after = httpx.get(url, headers={"Accept": PIP_ACCEPT, "If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    assert after.json()["files"][0]["filename"] == dist.name


def test_head_answers_the_headers_of_get(server: Served) -> None:
    for path in ("/simple/", "/simple/demo-pkg/", "/packages/demo_pkg-1.0-py3-none-any.whl"):
        got = httpx.get(server.url + path, headers={"Accept": PIP_ACCEPT, "Accept-Encoding": "identity"})
        head = httpx.head(server.url + path, headers={"Accept": PIP_ACCEPT, "Accept-Encoding": "identity"})
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-length"] == str(len(got.content))
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers.get("etag") == got.headers.get("etag")


def test_large_pages_are_gzipped(server: Served) -> None:
    response = httpx.get(f"{server.url}/simple/many/", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip" and response.text.count("<a ") >= 40
    raw = httpx.get(f"{server.url}/simple/many/", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    with httpx.stream("GET", f"{server.url}/simple/many/", headers={"Accept-Encoding": "gzip"}) as streamed:
        assert gzip.decompress(b"".join(streamed.iter_raw())).decode() == raw.text


def test_names_redirect_and_unknown_projects(server: Served) -> None:
    moved = httpx.get(f"{server.url}/simple/Demo_Pkg/?format={JSON}")
    assert moved.status_code == 301 and moved.headers["location"] == f"/simple/demo-pkg/?format={JSON}"
    assert httpx.get(f"{server.url}/simple/no-such-project/").status_code == 404
    assert httpx.get(f"{server.url}/simple/demo-pkg", follow_redirects=True).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/packages/..%2F..%2Fsecret.txt",
        "/packages/%2e%2e/secret.txt",
        "/packages/../secret.txt",
        "/packages/%2e%2e%2fsecret.txt",
        "/packages/..",
        "/packages/%2Fetc%2Fpasswd",
        "/simple/..%2F..%2Fsecret.txt/",
        "/packages/demo_pkg-1.0-py3-none-any.whl%00",
        "/packages/%ff%fe.whl",
        "/simple/%ff%fe/",
        "/simple/a%00b/",
    ],
)
def test_traversal_paths_reach_nothing_outside_the_storage(server: Served, path: str) -> None:
    response = httpx.get(server.url + path)
    assert response.status_code in (400, 404, 405)  # 405: a client that folds "/packages/.." to "/"
    assert "TOP-SECRET" not in response.text and "root:" not in response.text
    assert "Traceback" not in response.text


def test_downloads_have_length_and_answer_ranges(server: Served) -> None:
    storage = server.storage
    wheel = storage / "demo_pkg-1.0-py3-none-any.whl"
    url = f"{server.url}/packages/{wheel.name}"
    whole = httpx.get(url)
    assert whole.content == wheel.read_bytes() and int(whole.headers["content-length"]) == wheel.stat().st_size
    assert whole.headers["cache-control"] == "max-age=31536000"
    part = httpx.get(url, headers={"Range": "bytes=-22"})  # uv reads a zip's end this way
    assert part.status_code == 206 and part.content == wheel.read_bytes()[-22:]


def test_access_and_upload_refusals(serve: Callable[..., Served], storage: Path, tmp_path: Path) -> None:
    build_wheel(storage, "demo-pkg", "1.0")
    server = serve(
        {
            "pypi.db": "memory",
            "storage.dir": str(storage),
            "pypi.default_read": "authenticated",
            "user.alice": password_hash("s3cret"),
            "user.reader": password_hash("r3ad"),
            "auth.admins": "alice",
            "pypi.default_write": "",
            "pypi.max_upload_bytes": "5000",
        }
    )
    anonymous = httpx.get(f"{server.url}/simple/")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Basic")
    assert httpx.get(f"{server.url}/simple/", headers=basic("reader", "wrong")).status_code == 401
    assert httpx.get(f"{server.url}/simple/", headers=basic("reader", "r3ad")).status_code == 200
    assert httpx.get(f"{server.url}/packages/demo_pkg-1.0-py3-none-any.whl").status_code == 401

    dist = build_wheel(tmp_path / "dist", "new-pkg", "1.0")
    form = {":action": "file_upload", "name": "new-pkg", "version": "1.0"}
    files = {"content": (dist.name, dist.read_bytes())}

    def post(headers: dict[str, str], data: dict[str, str] = form, **kwargs: object) -> httpx.Response:
        return httpx.post(f"{server.url}/", data=data, files=kwargs.get("files", files), headers=headers)  # type: ignore[arg-type]

    assert post(basic("reader", "r3ad")).status_code == 403  # may read, may not write
    assert post({}).status_code == 401
    bad_digest = post(basic("alice", "s3cret"), {**form, "sha256_digest": "0" * 64})
    assert bad_digest.status_code == 400 and "sha256_digest" in bad_digest.text
    bad_name = post(basic("alice", "s3cret"), {**form, "name": "bad/name"})
    assert bad_name.status_code == 400 and "must not contain" in bad_name.text
    too_big = post(basic("alice", "s3cret"), files={"content": (dist.name, b"x" * 20000)})
    assert too_big.status_code == 413 and "pypi.max_upload_bytes" in too_big.text
    assert post(basic("alice", "s3cret"), {"name": "x"}).status_code == 400  # no :action
    truncated = httpx.post(
        f"{server.url}/",
        content=b'--xx\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_up',
        headers={**basic("alice", "s3cret"), "Content-Type": "multipart/form-data; boundary=xx"},
    )
    assert truncated.status_code == 400
    assert not list(storage.rglob("new*")), "a refused upload left a file"
    assert post(basic("alice", "s3cret")).status_code == 200
    assert post(basic("alice", "s3cret")).status_code == 409


def test_an_oversized_chunked_upload_is_refused_before_its_end(server: Served) -> None:
    """A body without Content-Length (chunked) is counted as it arrives: past the limit
    the answer is 413 at once, while the client is still sending, and nothing is kept."""
    head = (
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: multipart/form-data; boundary=xx\r\n"
        f"Authorization: {basic('alice', 's3cret')['Authorization']}\r\n\r\n"
    ).encode()
    part = (
        b'--xx\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
        b'--xx\r\nContent-Disposition: form-data; name="content"; filename="big-1.0.tar.gz"\r\n\r\n'
    )
    chunk = b"x" * 65536
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head + b"%x\r\n%s\r\n" % (len(part), part))
        try:
            for _ in range(40):  # 2.5 MiB, well past pypi.max_upload_bytes and the 1 MiB for fields
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass  # the server answered and closed while this was still sending
        answer = s.recv(4096)  # the body never ends: only a server that counts answers
        while b"pypi.max_upload_bytes" not in answer and (more := s.recv(4096)):
            answer += more
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"pypi.max_upload_bytes" in answer
    assert not list(server.storage.rglob("big*"))


def test_a_file_gone_from_the_storage_is_404(serve: Callable[..., Served], storage: Path) -> None:
    """Another program deleted the file before the cache heard of it: a plain 404, not a 500."""
    wheel = build_wheel(storage, "gone-pkg", "1.0")
    server = serve({"pypi.db": "memory", "storage.dir": str(storage), "pypi.fallback": "none"})
    wheel.unlink()
    for method in ("GET", "HEAD"):
        response = httpx.request(method, f"{server.url}/packages/{wheel.name}")
        assert response.status_code == 404, response.text
    assert "no longer holds" in httpx.get(f"{server.url}/packages/{wheel.name}").text
