"""Names, versions and metadata read from distribution files themselves.

Used where a storage has no ``.meta`` sidecar: the name and version come
from the file name (``packaging.utils``), the summary and Requires-Python
from the wheel's ``METADATA`` or the sdist's ``PKG-INFO``.
"""

from __future__ import annotations

import contextlib
import tarfile
import zipfile
from pathlib import PurePosixPath

from packaging.metadata import parse_email
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from .exceptions import InvalidPackage

__all__ = ["parse_filename", "read_archive_metadata"]

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
            stem = filename[: -len(suffix)]
            with contextlib.suppress(InvalidSdistFilename):
                parse_sdist_filename(filename)  # legacy versions are still packages: fall back to the last "-"
            project, sep, version = stem.rpartition("-")
            if sep and project and version:
                return project, version
            break
    raise InvalidPackage(
        f"cannot tell name and version from file name {filename!r}: expected a wheel "
        f"(name-version-tags.whl) or an sdist (name-version{{.tar.gz,.zip}})"
    )


def is_distribution(filename: str) -> bool:
    return filename.endswith(_KNOWN)


def _metadata_text(path: str, filename: str) -> bytes | None:
    if filename.endswith((".whl", ".zip", ".egg")):
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                parts = PurePosixPath(member).parts
                if (
                    filename.endswith(".whl")
                    and len(parts) == 2
                    and parts[0].endswith(".dist-info")
                    and parts[1] == "METADATA"
                ):
                    return archive.read(member)
                if not filename.endswith(".whl") and len(parts) == 2 and parts[1] == "PKG-INFO":
                    return archive.read(member)
        return None
    with tarfile.open(path) as archive:
        for info in archive:
            parts = PurePosixPath(info.name).parts
            if len(parts) == 2 and parts[1] == "PKG-INFO" and info.isfile():
                handle = archive.extractfile(info)
                return handle.read() if handle else None
    return None


def read_archive_metadata(path: str, filename: str) -> dict[str, str]:
    """``summary`` and ``requires_python`` from the archive, as far as present.

    Raises ``OSError``/``zipfile.BadZipFile``/``tarfile.TarError`` for an
    unreadable archive; the caller reports and skips the file.
    """
    text = _metadata_text(path, filename)
    if not text:
        return {}
    raw, _unparsed = parse_email(text)
    found: dict[str, str] = {}
    if raw.get("summary"):
        found["summary"] = str(raw["summary"])
    if raw.get("requires_python"):
        found["requires_python"] = str(raw["requires_python"])
    return found
