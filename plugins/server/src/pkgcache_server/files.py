"""Downloads and PEP 658 metadata: the bytes the storage holds, found by filename.

The URL's filename is only ever a key for ``Cache.fetch``: the file served is
the one the storage keeps for that package, so no request can name a path
(``..``, ``%2e%2e``, ``%2f`` find no package and get 404). The file storage's
files are sent with their length and answer Range requests (uv reads a
wheel's METADATA that way when ``.metadata`` is missing); an object store's
are redirected to its (presigned) URL, or streamed when redirects are off.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse

from pkgcache import InvalidPackage, Package, read_core_metadata
from pkgcache.file_storage import FileStorage

if TYPE_CHECKING:
    from .app import Index

__all__ = ["download"]

METADATA_SUFFIX = ".metadata"


def _missing(filename: str) -> Response:
    return PlainTextResponse(f"no file {filename!r} in this index\n", status_code=404)


def _gone(package: Package) -> Response:
    """The cache lists the file but another program removed it from the storage."""
    message = f"the storage no longer holds {package.filename!r}; a reload will drop it from the index\n"
    return PlainTextResponse(message, status_code=404)


def _chunks(handle: Any) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(1 << 16):
            yield chunk


def _core_metadata(index: Index, package: Package) -> bytes | None:
    with index.cache.storage.open(package) as handle:
        readable: Any = handle
        if not (hasattr(handle, "seekable") and handle.seekable()):  # an object store's stream: a zip needs seeks
            readable = io.BytesIO(handle.read())
        try:
            return read_core_metadata(readable, package.filename)
        except InvalidPackage:
            return None


async def download(index: Index, request: Request) -> Response:
    filename: str = request.path_params["filename"]
    package = await index.run(index.cache.fetch, filename)
    if package is None and filename.endswith(METADATA_SUFFIX):
        wheel = await index.run(index.cache.fetch, filename.removesuffix(METADATA_SUFFIX))
        if wheel is None or not wheel.filename.endswith(".whl"):
            return _missing(filename)
        return await _metadata(index, request, wheel)
    if package is None:
        return _missing(filename)
    max_age = index.settings.package_max_age
    headers = {"Cache-Control": f"max-age={max_age}"}
    storage = index.cache.storage
    if isinstance(storage, FileStorage):
        path = await index.run(storage.get_url, package)
        if not await index.run(os.path.isfile, path):
            return _gone(package)
        return FileResponse(path, headers=headers, media_type="application/octet-stream")
    url = await index.run(storage.get_url, package)
    if url.startswith(("http://", "https://")) and getattr(storage.settings, "redirect_urls", True):
        return RedirectResponse(url, status_code=302)
    try:
        handle = await index.run(storage.open, package)
    except FileNotFoundError:
        return _gone(package)
    size = package.data.get("size")
    if isinstance(size, int):
        headers["Content-Length"] = str(size)
    return StreamingResponse(_chunks(handle), headers=headers, media_type="application/octet-stream")


async def _metadata(index: Index, request: Request, wheel: Package) -> Response:
    try:
        found = await index.run(_core_metadata, index, wheel)
    except FileNotFoundError:
        found = None
    if found is None:
        return _missing(wheel.filename + METADATA_SUFFIX)
    etag = f'"{hashlib.sha256(found).hexdigest()}"'
    headers = {"ETag": etag, "Cache-Control": f"max-age={index.settings.package_max_age}"}
    if request.headers.get("if-none-match", "").strip() == etag:
        return Response(status_code=304, headers=headers)
    return Response(found, headers=headers, media_type="application/octet-stream")
