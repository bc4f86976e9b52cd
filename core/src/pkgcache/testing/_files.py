"""Real distribution files and packages for tests, made on the spot.

The kit reloads from a real ``file`` storage, so it needs wheels and sdists
whose metadata the storage reads the way it reads files from PyPI.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..package import Package

__all__ = ["T0", "make_package", "write_sdist", "write_wheel"]

#: a fixed, microsecond-precise moment: tests build times from it
T0 = datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=timezone.utc)


def _metadata(name: str, version: str, summary: str | None, requires_python: str | None) -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if summary:
        lines.append(f"Summary: {summary}")
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def write_wheel(
    folder: Path,
    name: str,
    version: str,
    summary: str | None = None,
    requires_python: str | None = None,
    tag: str = "py3-none-any",
) -> Path:
    """A minimal valid wheel in ``folder`` (flat layout, no sidecar)."""
    dist = name.replace("-", "_")
    path = folder / f"{dist}-{version}-{tag}.whl"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{dist}/__init__.py", "")
        archive.writestr(f"{dist}-{version}.dist-info/METADATA", _metadata(name, version, summary, requires_python))
        archive.writestr(f"{dist}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: " + tag + "\n")
    return path


def write_sdist(folder: Path, name: str, version: str, summary: str | None = None) -> Path:
    """A minimal ``.tar.gz`` sdist with a PKG-INFO in ``folder``."""
    dist = name.replace("-", "_")
    path = folder / f"{dist}-{version}.tar.gz"
    folder.mkdir(parents=True, exist_ok=True)
    data = _metadata(name, version, summary, None)
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(f"{dist}-{version}/PKG-INFO")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path


def make_package(
    name: str = "mypkg",
    version: str = "1.0",
    filename: str | None = None,
    minutes: int = 0,
    summary: str | None = "A summary",
    **data: object,
) -> Package:
    """A Package with a predictable filename and time (``T0`` plus ``minutes``)."""
    filename = filename or f"{name.replace('-', '_')}-{version}.tar.gz"
    return Package(name, version, filename, T0 + timedelta(minutes=minutes), summary, **data)
