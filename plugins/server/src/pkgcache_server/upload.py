"""The legacy upload API (``:action=file_upload``), as twine and ``uv publish`` send it.

The digest sent is checked before anything is written; an upload that is
refused (too big, unreadable body, wrong digest, a filename that exists, a
name or version ``Cache.upload`` refuses) leaves nothing in the storage or
the cache, and gets one line saying why.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, BinaryIO

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message

from pkgcache import InvalidPackage, PackageExists

if TYPE_CHECKING:
    from .app import Index

__all__ = ["upload"]


def _refuse(status: int, message: str) -> Response:
    return PlainTextResponse(message + "\n", status_code=status)


#: what the form's other fields may add to the file's bytes
FIELDS_ALLOWANCE = 1 << 20


class _TooBig(Exception):
    """The body went past the limit while it was being read."""


def _counted(request: Request, limit: int) -> Request:
    """``request`` reading its body through a counter that stops past ``limit`` bytes:
    a body without ``Content-Length`` (chunked) is never read to its end first."""
    receive, received = request.receive, 0

    async def counting() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _TooBig
        return message

    return Request(request.scope, counting)


def _sha256(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    handle.seek(0)
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
    handle.seek(0)
    return digest.hexdigest()


def _text_field(form: Any, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


async def upload(request: Request) -> Response:
    from .app import denied

    index: Index = request.app.state.index
    user = await index.user(request)
    if user is False or not index.access.may(user, write=True):  # type: ignore[arg-type]
        return denied(user, "upload")
    limit = index.settings.max_upload_bytes
    over = f"over the limit of {limit:,} bytes (pypi.max_upload_bytes)"
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + FIELDS_ALLOWANCE:
        return _refuse(413, f"an upload of {int(length):,} bytes is {over}")
    try:
        form = await _counted(request, limit + FIELDS_ALLOWANCE).form(max_files=2, max_fields=200)
    except _TooBig:
        return _refuse(413, f"the upload is {over}")
    except Exception as err:  # a truncated or malformed multipart body
        return _refuse(400, f"the multipart body cannot be read: {err}")
    try:
        action = form.get(":action")
        if action != "file_upload":
            return _refuse(400, f":action must be 'file_upload', not {action!r}")
        content = form.get("content")
        if not isinstance(content, UploadFile) or not content.filename:
            return _refuse(400, "content: the file (with its filename) is missing")
        if content.size is not None and content.size > limit:
            return _refuse(413, f"{content.filename!r} is {over}")
        sent = _text_field(form, "sha256_digest")
        actual = await index.run(_sha256, content.file)
        if sent is not None and sent.lower() != actual:
            return _refuse(400, f"sha256_digest {sent!r} does not match the file's sha256 {actual!r}")
        filename: str = content.filename
        metadata: dict[str, Any] = {"uploader": user} if isinstance(user, str) else {}
        try:
            await index.run(
                lambda: index.cache.upload(
                    filename,
                    content.file,
                    name=_text_field(form, "name"),
                    version=_text_field(form, "version"),
                    summary=_text_field(form, "summary"),
                    requires_python=_text_field(form, "requires_python"),
                    overwrite=index.settings.allow_overwrite,
                    **metadata,
                )
            )
        except PackageExists as err:
            return _refuse(409, f"{err} (pypi.allow_overwrite is off)")
        except InvalidPackage as err:
            return _refuse(400, str(err))
    finally:
        await form.close()
    return PlainTextResponse("OK\n")
