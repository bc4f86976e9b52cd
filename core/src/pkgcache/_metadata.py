"""Names, versions and metadata read from distribution files themselves.

Used where a storage has no ``.meta`` sidecar: the name and version come
from the file name (``packaging.utils``), the summary and Requires-Python
from the wheel's ``METADATA`` or the sdist's ``PKG-INFO``, read in chunks
and never past a few MiB, whatever the archive claims.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import tarfile
import zipfile
from pathlib import PurePosixPath
from typing import IO, Any, cast

from packaging.utils import (
    InvalidWheelFilename,
    parse_wheel_filename,
)

from .exceptions import InvalidPackage, MetadataOutOfReach

__all__ = [
    "MAX_DECOMPRESSED_BYTES",
    "MAX_MEMBERS",
    "MAX_METADATA_BYTES",
    "is_distribution",
    "one_line",
    "parse_filename",
    "read_archive_metadata",
    "read_core_metadata",
]

SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar")
_KNOWN = (".whl", ".egg", *SDIST_SUFFIXES)


def parse_filename(filename: str) -> tuple[str, str]:
    """``(name, version)`` of a wheel, sdist or egg file name, the version as written.

    Raises :class:`InvalidPackage` naming the file and the forms accepted.
    """
    if filename.endswith(".whl"):
        try:
            name, _, _, _ = parse_wheel_filename(filename)
        except InvalidWheelFilename as err:
            raise InvalidPackage(f"{filename!r} is not a valid wheel file name: {err}") from err
        return str(name), filename.split("-")[1]
    if filename.endswith(".egg"):
        parts = filename[: -len(".egg")].split("-")
        if len(parts) >= 2 and parts[0] and parts[1]:
            return parts[0], parts[1]
    for suffix in SDIST_SUFFIXES:
        if filename.endswith(suffix):
            # the last "-" splits name and version, as packaging's parse_sdist_filename does; its
            # version check is left out on purpose: legacy versions are still packages here
            project, sep, version = filename[: -len(suffix)].rpartition("-")
            if sep and project and version:
                return project, version
            break
    raise InvalidPackage(
        f"cannot tell name and version from file name {filename!r}: expected a wheel "
        f"(name-version-tags.whl) or an sdist (name-version{{.tar.gz,.zip}})"
    )


def is_distribution(filename: str) -> bool:
    return filename.endswith(_KNOWN)


#: the most of METADATA / PKG-INFO read, uncompressed: real ones are a few KiB
MAX_METADATA_BYTES = 4 << 20
#: the most bytes decompressed from a compressed tar to reach its PKG-INFO: a real sdist
#: is rarely past a few dozen MiB (and hatchling writes PKG-INFO last), while a few KB of
#: bz2 can hold GiBs of zeros before it; beyond this the file is indexed without them
MAX_DECOMPRESSED_BYTES = 256 << 20
#: the most archive members passed over on the way to the metadata
MAX_MEMBERS = 100_000
_TAR_MODES = {".tar.gz": "gz", ".tgz": "gz", ".tar.bz2": "bz2", ".tar.xz": "xz", ".tar": ""}


class _Budget(io.RawIOBase):
    """A read-only stream over ``stream`` that refuses to give more than ``limit`` bytes in
    all: wrapped around the decompressed data, it bounds what reaching PKG-INFO costs."""

    def __init__(self, stream: IO[bytes], limit: int, filename: str) -> None:
        self.stream, self.left, self.filename = stream, limit, filename

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            raise MetadataOutOfReach(
                f"{self.filename!r}: its metadata lies beyond {MAX_DECOMPRESSED_BYTES >> 20} MiB "
                "of decompressed data: not read"
            )
        view = memoryview(buffer)[: min(len(buffer), self.left)]
        data = self.stream.read(len(view))
        view[: len(data)] = data
        self.left -= len(data)
        return len(data)


def _bounded(stream: IO[bytes], filename: str) -> bytes:
    """The stream's content, read in chunks, refused past :data:`MAX_METADATA_BYTES`
    so that a compressed bomb never expands in memory."""
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read(1 << 16):
        size += len(chunk)
        if size > MAX_METADATA_BYTES:
            raise InvalidPackage(
                f"metadata of {filename!r} is over {MAX_METADATA_BYTES >> 20} MiB uncompressed: not read"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _too_many(filename: str) -> MetadataOutOfReach:
    return MetadataOutOfReach(f"{filename!r}: no metadata among its first {MAX_MEMBERS:,} members: not read")


def _zip_metadata(handle: IO[bytes], filename: str) -> bytes | None:
    wheel = filename.endswith(".whl")
    with zipfile.ZipFile(handle) as archive:
        for count, info in enumerate(archive.infolist()):
            if count >= MAX_MEMBERS:
                raise _too_many(filename)
            parts = PurePosixPath(info.filename).parts
            if len(parts) != 2:
                continue
            if (wheel and parts[0].endswith(".dist-info") and parts[1] == "METADATA") or (
                not wheel and parts[1] == "PKG-INFO"
            ):
                with archive.open(info) as member:
                    return _bounded(member, filename)
    return None


def _decompressed(handle: IO[bytes], compression: str) -> IO[bytes]:
    if compression == "gz":
        return cast(IO[bytes], gzip.GzipFile(fileobj=handle, mode="rb"))
    if compression == "bz2":
        return cast(IO[bytes], bz2.BZ2File(handle, mode="rb"))
    return cast(IO[bytes], lzma.LZMAFile(handle, mode="rb"))


def _tar_metadata(handle: IO[bytes], filename: str) -> bytes | None:
    compression = next((c for suffix, c in _TAR_MODES.items() if filename.endswith(suffix)), None)
    if compression is None:  # another suffix (.zip is handled above): let tarfile guess
        return _tar_members(tarfile.open(fileobj=handle, mode="r:*"), filename)
    if not compression:  # plain tar: members are passed over by seeking, at no cost
        return _tar_members(tarfile.open(fileobj=handle, mode="r:"), filename)
    # read as a stream through the budget: every byte decompressed on the way is counted
    stream = io.BufferedReader(_Budget(_decompressed(handle, compression), MAX_DECOMPRESSED_BYTES, filename))
    try:
        return _tar_members(tarfile.open(fileobj=stream, mode="r|"), filename)
    except (OSError, lzma.LZMAError) as err:  # the decompressor's own words are cryptic
        raise InvalidPackage(f"cannot read the archive: not a {_FORMAT_NAMES[compression]} file") from err


_FORMAT_NAMES = {"gz": "gzip", "bz2": "bzip2", "xz": "xz"}


def _tar_members(archive: tarfile.TarFile, filename: str) -> bytes | None:
    with archive:
        for count, info in enumerate(archive):
            if count >= MAX_MEMBERS:
                raise _too_many(filename)
            parts = PurePosixPath(info.name).parts
            if len(parts) == 2 and parts[1] == "PKG-INFO" and info.isfile():
                member = archive.extractfile(info)
                return _bounded(member, filename) if member else None
    return None


def _metadata_text(handle: IO[bytes], filename: str) -> bytes | None:
    if filename.endswith((".whl", ".zip", ".egg")):
        return _zip_metadata(handle, filename)
    return _tar_metadata(handle, filename)


def read_core_metadata(handle: IO[bytes], filename: str) -> bytes | None:
    """The exact bytes of a wheel's ``*.dist-info/METADATA`` (what PEP 658 serves as
    ``<file>.metadata``), or None for another kind of file or a wheel without one.

    Raises :class:`InvalidPackage` when the archive cannot be read."""
    if not filename.endswith(".whl"):
        return None
    try:
        return _zip_metadata(handle, filename)
    except InvalidPackage:
        raise
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, RuntimeError) as err:
        raise InvalidPackage(f"cannot read the archive: {one_line(err)}") from err


def one_line(err: BaseException) -> str:
    """A short, one-line cause: the first non-blank line of the message, else the type."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0].rstrip(":") if lines else ""
    return text or type(err).__name__


def read_archive_metadata(handle: IO[bytes], filename: str) -> dict[str, str]:
    """``summary`` and ``requires_python`` from the open archive, as far as present,
    and for a wheel ``core_metadata_sha256``: the sha256 of its exact METADATA bytes,
    which an index serves as PEP 658 metadata (so a page never opens an archive).

    Raises :class:`InvalidPackage` with a one-line reason when the archive
    cannot be read or its metadata is too large, and its subclass
    :class:`MetadataOutOfReach` when reaching the metadata would cost more than
    :data:`MAX_DECOMPRESSED_BYTES` or :data:`MAX_MEMBERS`; the caller reports it.
    """
    try:
        text = _metadata_text(handle, filename)
        if not text:
            return {}
        from packaging.metadata import parse_email  # only a reload reads archives: commands start faster

        raw, _unparsed = parse_email(text)
    except InvalidPackage:
        raise
    except (
        OSError,
        zipfile.BadZipFile,
        tarfile.TarError,
        EOFError,
        ValueError,
        RuntimeError,
        LookupError,
        lzma.LZMAError,
    ) as err:
        raise InvalidPackage(f"cannot read the archive: {one_line(err)}") from err
    found: dict[str, str] = {}
    if filename.endswith(".whl"):
        found["core_metadata_sha256"] = hashlib.sha256(text).hexdigest()
    if raw.get("summary"):
        found["summary"] = str(raw["summary"])
    if raw.get("requires_python"):
        found["requires_python"] = str(raw["requires_python"])
    return found
