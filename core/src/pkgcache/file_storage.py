"""The built-in ``file`` storage: package files in a local folder.

It reads two layouts, mixed freely in one folder:

* pypicloud's: ``<dir>/<name>/<version>/<filename>`` with an optional
  ``<filename>.meta`` JSON sidecar holding the metadata;
* a flat folder of wheels and sdists, as ``pip download`` leaves them.

Where there is no sidecar the name and version come from the file name and
the summary and Requires-Python from the archive's own metadata. Uploads are
written in pypicloud's layout, sidecar first, each through a temporary file
and ``os.replace`` so that a reader never sees half a file.
"""

from __future__ import annotations

import json
import logging
import os
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator, MutableSequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import Field

from ._metadata import is_distribution, parse_filename, read_archive_metadata
from ._models import StorageSettings
from .exceptions import InvalidPackage
from .package import Package
from .storage import Skipped, Storage

__all__ = ["FileStorage"]

log = logging.getLogger(__name__)

META_SUFFIX = ".meta"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_RESERVED = {"name", "version", "filename", "last_modified"}


def _mtime(st: os.stat_result) -> datetime:
    return _EPOCH + timedelta(microseconds=st.st_mtime_ns // 1000)


def _write_atomic(path: Path, data: bytes | BinaryIO, mtime: datetime | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(data, bytes):
                out.write(data)
            else:
                while chunk := data.read(1 << 20):
                    out.write(chunk)
        if mtime is not None:
            ns = (mtime - _EPOCH) // timedelta(microseconds=1) * 1000
            os.utime(tmp, ns=(ns, ns))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FileStorage(Storage):
    """Package files in ``storage.dir``."""

    class Settings(StorageSettings):
        dir: Path = Field(description="Folder holding the package files (created when missing).")

    settings: Settings

    def __init__(self, settings: Settings) -> None:  # type: ignore[override]
        super().__init__(settings)
        self.root = Path(settings.dir).expanduser()
        self._paths: dict[str, Path] = {}

    # -- reading ---------------------------------------------------------
    def _walk(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        """(path, path parts below the root) of every file but sidecars and hidden ones.

        Plain strings and ``os.scandir``: pathlib costs more than the rest of
        a listing of 100,000 files.
        """
        if not self.root.is_dir():
            return
        stack: list[tuple[str, tuple[str, ...]]] = [(str(self.root), ())]
        while stack:
            folder, rel = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except FileNotFoundError:
                continue  # removed by a concurrent delete while we walked
            for entry in entries:
                if entry.name.startswith("."):
                    continue  # temporary uploads and hidden files
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, (*rel, entry.name)))
                elif not entry.name.endswith(META_SUFFIX):
                    yield entry.path, (*rel, entry.name)

    def count_estimate(self) -> int | None:
        return sum(1 for _ in self._walk())

    def list(self) -> Iterator[Package]:
        self.skipped = []
        self._paths = {}
        for path, rel in self._walk():
            package = self._read(path, rel, self.skipped)
            if package is not None:
                self._paths[package.filename] = Path(path)
                yield package

    def _read(self, path: str, rel: tuple[str, ...], problems: MutableSequence[Skipped]) -> Package | None:
        filename = rel[-1]
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None  # deleted while we listed
        meta: dict[str, Any] | None = None
        meta_path = path + META_SUFFIX
        try:
            with open(meta_path, encoding="utf-8") as handle:
                meta = json.load(handle)
            if not isinstance(meta, dict):
                raise ValueError("it is not a JSON object")
        except FileNotFoundError:
            meta = None
        except (ValueError, UnicodeDecodeError) as err:
            problems.append(Skipped(meta_path, f"sidecar ignored, not valid JSON metadata: {err}"))
            meta = None
        try:
            name, version = self._name_version(filename, rel)
            if meta is None:
                meta = read_archive_metadata(path, filename) if is_distribution(filename) else {}
            data = {k: v for k, v in meta.items() if k not in _RESERVED}
            summary = data.pop("summary", None)
            return Package(name, version, filename, _mtime(st), summary if isinstance(summary, str) else None, **data)
        except (InvalidPackage, OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as err:
            reason = str(err) if isinstance(err, InvalidPackage) else f"cannot read the archive: {err}"
            problems.append(Skipped(path, reason))
            log.warning("skipped %s: %s", path, reason)
            return None

    @staticmethod
    def _name_version(filename: str, rel: tuple[str, ...]) -> tuple[str, str]:
        if len(rel) == 3:  # pypicloud's layout names them by folder, as pypicloud reads it
            return rel[0], rel[1]
        return parse_filename(filename)

    def _path(self, package: Package) -> Path:
        known = self._paths.get(package.filename)
        if known is not None and known.exists():
            return known
        layout = self.root / package.name / package.version / package.filename
        flat = self.root / package.filename
        return flat if flat.exists() and not layout.exists() else layout

    def load(self, package: Package) -> Package | None:
        path = self._path(package)
        if not path.exists():
            return None
        return self._read(str(path), path.relative_to(self.root).parts, [])

    def open(self, package: Package) -> BinaryIO:
        return self._path(package).open("rb")

    def get_url(self, package: Package) -> str:
        return str(self._path(package))

    # -- writing ---------------------------------------------------------
    def upload(self, package: Package, data: bytes | BinaryIO) -> None:
        path = self.root / package.name / package.version / package.filename
        meta = json.dumps(package.get_metadata(), ensure_ascii=False, sort_keys=True).encode()
        _write_atomic(path.with_name(package.filename + META_SUFFIX), meta)
        _write_atomic(path, data, mtime=package.last_modified)
        self._paths[package.filename] = path

    def delete(self, package: Package) -> None:
        path = self._path(package)
        path.unlink(missing_ok=True)
        path.with_name(path.name + META_SUFFIX).unlink(missing_ok=True)
        self._paths.pop(package.filename, None)
        for folder in (path.parent, path.parent.parent):
            if folder == self.root or self.root not in folder.parents:
                break
            try:
                folder.rmdir()  # only when empty
            except OSError:
                break
