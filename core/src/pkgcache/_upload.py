"""What an upload records besides the file: its hashes, size and, for a wheel, the hash of
its METADATA (served as PEP 658 metadata), computed once as the content streams past.

Apart from :meth:`pkgcache.Cache.upload`, which decides what happens to the
cache and the storage; this only turns bytes into a :class:`Package`.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from datetime import datetime
from typing import IO, Any, BinaryIO

from ._metadata import read_core_metadata
from .exceptions import InvalidPackage
from .package import Package

__all__ = ["new_package"]


def _hashed(data: bytes | BinaryIO) -> tuple[bytes | IO[bytes], str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    if isinstance(data, bytes):
        sha.update(data)
        md5.update(data)
        return data, sha.hexdigest(), md5.hexdigest()
    spool = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115 - the caller closes it
    while chunk := data.read(1 << 20):
        sha.update(chunk)
        md5.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    return spool, sha.hexdigest(), md5.hexdigest()


def _core_metadata_sha256(content: bytes | IO[bytes], filename: str) -> str | None:
    """The sha256 of a wheel's METADATA (served as PEP 658 metadata), or None when the
    wheel cannot be read: the upload still goes on, indexed without it."""
    handle = io.BytesIO(content) if isinstance(content, bytes) else content
    try:
        found = read_core_metadata(handle, filename)
    except InvalidPackage:
        return None
    finally:
        if not isinstance(content, bytes):
            content.seek(0)
    return hashlib.sha256(found).hexdigest() if found is not None else None


def new_package(
    filename: str,
    data: bytes | BinaryIO,
    name: str,
    version: str,
    summary: str | None,
    requires_python: str | None,
    last_modified: datetime | None,
    metadata: dict[str, Any],
) -> tuple[Package, bytes | IO[bytes]]:
    """The package to store for ``data`` and the content to write (bytes, or a spooled copy of a
    stream that the caller closes): sha256, md5 and size recorded, and a wheel's METADATA hash."""
    content, sha256, md5 = _hashed(data)
    size = len(content) if isinstance(content, bytes) else content.seek(0, 2)
    if not isinstance(content, bytes):
        content.seek(0)
    if filename.endswith(".whl") and "core_metadata_sha256" not in metadata:
        metadata["core_metadata_sha256"] = _core_metadata_sha256(content, filename)
    package = Package(
        name,
        version,
        filename,
        last_modified,
        summary,
        requires_python=requires_python,
        hash_sha256=sha256,
        hash_md5=md5,
        **{"size": size, **metadata},
    )
    return package, content
