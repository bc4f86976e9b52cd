"""Names, versions and metadata read from distribution files themselves.

Used where a storage has no ``.meta`` sidecar: the name and version come
from the file name (``packaging.utils``), the summary and Requires-Python
from the wheel's ``METADATA`` or the sdist's ``PKG-INFO``, read in chunks
and never past a few MiB, whatever the archive claims.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import PurePosixPath
from typing import IO

from packaging.utils import (
    InvalidWheelFilename,
    parse_wheel_filename,
)

from .exceptions import InvalidPackage

__all__ = ["MAX_METADATA_BYTES", "is_distribution", "one_line", "parse_filename", "read_archive_metadata"]

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
_TAR_MODES = {".tar.gz": "r:gz", ".tgz": "r:gz", ".tar.bz2": "r:bz2", ".tar.xz": "r:xz", ".tar": "r:"}


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


def _metadata_text(handle: IO[bytes], filename: str) -> bytes | None:
    if filename.endswith((".whl", ".zip", ".egg")):
        wheel = filename.endswith(".whl")
        with zipfile.ZipFile(handle) as archive:
            for info in archive.infolist():
                parts = PurePosixPath(info.filename).parts
                if len(parts) != 2:
                    continue
                if (wheel and parts[0].endswith(".dist-info") and parts[1] == "METADATA") or (
                    not wheel and parts[1] == "PKG-INFO"
                ):
                    with archive.open(info) as member:
                        return _bounded(member, filename)
        return None
    mode = next((m for suffix, m in _TAR_MODES.items() if filename.endswith(suffix)), "r:*")
    with tarfile.open(fileobj=handle, mode=mode) as archive:  # type: ignore[call-overload]
        for info in archive:
            parts = PurePosixPath(info.name).parts
            if len(parts) == 2 and parts[1] == "PKG-INFO" and info.isfile():
                member = archive.extractfile(info)
                return _bounded(member, filename) if member else None
    return None


def one_line(err: BaseException) -> str:
    """A short, one-line cause: the first non-blank line of the message, else the type."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0].rstrip(":") if lines else ""
    return text or type(err).__name__


def read_archive_metadata(handle: IO[bytes], filename: str) -> dict[str, str]:
    """``summary`` and ``requires_python`` from the open archive, as far as present.

    Raises :class:`InvalidPackage` with a one-line reason when the archive
    cannot be read or its metadata is too large; the caller reports it.
    """
    try:
        text = _metadata_text(handle, filename)
        if not text:
            return {}
        from packaging.metadata import parse_email  # only a reload reads archives: commands start faster

        raw, _unparsed = parse_email(text)
    except InvalidPackage:
        raise
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError, ValueError, RuntimeError, LookupError) as err:
        raise InvalidPackage(f"cannot read the archive: {one_line(err)}") from err
    found: dict[str, str] = {}
    if raw.get("summary"):
        found["summary"] = str(raw["summary"])
    if raw.get("requires_python"):
        found["requires_python"] = str(raw["requires_python"])
    return found
