"""The built-in ``file`` storage: package files in a local folder.

It reads two layouts, mixed freely in one folder:

* pypicloud's: ``<dir>/<name>/<version>/<filename>`` with an optional
  ``<filename>.meta`` JSON sidecar holding the metadata. As pypicloud does,
  every file there is indexed with name and version from its folders; the
  sidecar, else the archive, only adds metadata, and one that cannot be read
  costs that metadata alone (a line in ``warnings``);
* a flat folder of wheels and sdists, as ``pip download`` leaves them: name
  and version from the file name, which must parse, summary and
  Requires-Python from the archive, which must be readable.

Every file is read on its own: one that cannot be read is recorded in
``skipped`` and the listing goes on. Only regular files are opened; a
symbolic link is followed only to a regular file inside the folder. A
missing folder is :class:`~pkgcache.StorageUnavailable`, never an empty
listing. Uploads are written in pypicloud's layout, sidecar first, each
through a temporary file and ``os.replace`` so that a reader never sees half
a file; the first upload creates the folder.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator, MutableSequence, Sequence
from pathlib import Path
from typing import BinaryIO

from pydantic import Field, field_validator

from ._files import (
    META_SUFFIX,
    NAME_MAX,
    UNCHECKED_DEPTH,
    core_metadata_hash,
    duplicate_note,
    file_sha256,
    is_utf8,
    kind_of,
    mtime_of,
    open_regular,
    read_sidecar,
    sorted_entries,
    token_of,
    write_atomic,
)
from ._metadata import is_distribution, one_line, parse_filename, read_archive_metadata
from ._plugin_settings import StorageSettings
from .exceptions import InvalidPackage, MetadataOutOfReach, StorageUnavailable
from .package import Package, normalize_name
from .storage import Entry, Skipped, Storage, shown_path

__all__ = ["FileStorage"]


class FileStorage(Storage):
    """Package files in ``storage.dir``."""

    class Settings(StorageSettings):
        dir: Path = Field(
            description="Folder holding the package files. A reload needs it to exist and refuses "
            "otherwise (the cache is left as it is); the first upload creates it."
        )

        @field_validator("dir")
        @classmethod
        def _a_folder_or_nothing(cls, value: Path) -> Path:
            if "\x00" in str(value):
                raise ValueError("holds a NUL character; give the path of a folder")
            path = value.expanduser()
            if path.exists() and not path.is_dir():
                raise ValueError(f"{shown_path(str(path))!r} exists and is not a folder; give the path of a folder")
            return value

        def unreadable(self) -> Iterator[tuple[str, str]]:
            path = self.dir.expanduser()
            if not path.exists():
                yield (
                    "dir",
                    (
                        f"folder {shown_path(str(path))!r} does not exist: a reload would refuse it "
                        "(an upload would create it); create it or fix the path"
                    ),
                )

    settings: Settings

    def __init__(self, settings: Settings) -> None:  # type: ignore[override]
        super().__init__(settings)
        self.root = Path(settings.dir).expanduser()
        self._paths: dict[str, Path] = {}

    # -- reading ---------------------------------------------------------
    def _check_root(self) -> None:
        """Raise :class:`StorageUnavailable` unless the folder can be listed."""
        shown = shown_path(str(self.root))
        try:
            mode = os.stat(self.root).st_mode
        except (OSError, ValueError) as err:
            cause = err.strerror if isinstance(err, OSError) and err.strerror else one_line(err)
            raise StorageUnavailable(
                f"storage.dir {shown!r} cannot be read ({cause}): check the path and that its volume is mounted"
            ) from None
        if not stat.S_ISDIR(mode):
            raise StorageUnavailable(f"storage.dir {shown!r} is not a folder: give the folder of the package files")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise StorageUnavailable(f"storage.dir {shown!r} cannot be listed: permission denied")

    def _link_problem(self, path: str, real_root: str) -> str | None:
        """Why the symbolic link at ``path`` is not read, or None when it leads to a
        regular file inside the storage."""
        try:
            target = os.path.realpath(path, strict=True)
            mode = os.stat(target).st_mode
        except OSError as err:  # a loop (ELOOP) or a dangling link
            return f"symbolic link not followed: {err.strerror or one_line(err)}"
        if os.path.commonpath([real_root, target]) != real_root:
            return "symbolic link leads outside the storage: not followed"
        if stat.S_ISDIR(mode):
            return "symbolic link to a folder: not followed"
        if not stat.S_ISREG(mode):
            return f"symbolic link to a {kind_of(mode)}: not read"
        return None

    def _walk(self, problems: list[Skipped]) -> Iterator[tuple[os.DirEntry[str], tuple[str, ...]]]:
        """(entry, path parts below the root) of every regular file but sidecars and hidden ones.

        Plain strings and ``os.scandir``: pathlib costs more than the rest of
        a listing of 100,000 files. Depth first, in name order (so that of two
        files of one filename the same one is always met first), one folder's
        entries per level and nothing else kept, so memory does not grow with
        the storage (a stack of pending folders would hold every project's path). A folder
        that is one of its own ancestors (by device and inode: a bind mount)
        is not entered, so there is no loop. Only folders deeper than
        pypicloud's two levels (name, version) are stat-ed for that check: a
        loop repeats forever, so it reaches that depth and is cut there (its
        files listed at most twice more, same names), while the common layout
        saves one ``stat`` per folder, a third of the syscalls of a scan.
        """
        real_root = os.path.realpath(self.root)
        stack: list[tuple[Iterator[os.DirEntry[str]], tuple[str, ...], tuple[tuple[int, int], ...]]] = []

        def enter(folder: str, rel: tuple[str, ...], ancestors: tuple[tuple[int, int], ...]) -> None:
            try:
                if 0 < len(rel) <= UNCHECKED_DEPTH:
                    stack.append((sorted_entries(folder), rel, ancestors))
                    return
                st = os.stat(folder)
                if (st.st_dev, st.st_ino) in ancestors:
                    return
                stack.append((sorted_entries(folder), rel, (*ancestors, (st.st_dev, st.st_ino))))
            except FileNotFoundError:
                return  # removed by a concurrent delete while we walked
            except OSError as err:
                problems.append(Skipped(folder, f"folder not read: {err.strerror or one_line(err)}"))

        enter(str(self.root), (), ())
        try:
            while stack:
                found, rel, lineage = stack[-1]
                try:
                    entry = next(found)
                except StopIteration:
                    stack.pop()
                    continue
                except OSError as err:
                    stack.pop()
                    problems.append(Skipped(os.path.join(self.root, *rel), f"folder not read: {err.strerror}"))
                    continue
                name = entry.name
                if name.startswith("."):
                    continue  # temporary uploads and hidden files
                try:
                    if not is_utf8(name):
                        problems.append(Skipped(entry.path, "name is not valid UTF-8: not read"))
                    elif entry.is_dir(follow_symlinks=False):
                        enter(entry.path, (*rel, name), lineage)
                    elif name.endswith(META_SUFFIX):
                        continue
                    elif entry.is_file(follow_symlinks=False):
                        yield entry, (*rel, name)
                    elif entry.is_symlink():
                        reason = self._link_problem(entry.path, real_root)
                        if reason is None:
                            yield entry, (*rel, name)
                        else:
                            problems.append(Skipped(entry.path, reason))
                    else:
                        mode = entry.stat(follow_symlinks=False).st_mode
                        problems.append(Skipped(entry.path, f"not a regular file ({kind_of(mode)}): not read"))
                except FileNotFoundError:
                    continue
                except OSError as err:
                    problems.append(Skipped(entry.path, f"not read: {err.strerror or one_line(err)}"))
        finally:
            stack.clear()  # the listing was stopped early

    def check_health(self) -> tuple[bool, str]:
        try:
            self._check_root()
        except StorageUnavailable as err:
            return False, str(err)
        return True, f"folder {shown_path(str(self.root))!r} is readable"

    def count_estimate(self) -> int | None:
        if not self.root.is_dir():
            return None
        return sum(1 for _ in self._walk([]))

    def scan(self) -> Iterator[Entry]:
        self._check_root()
        self.skipped = []
        self.warnings = []
        self._paths = {}
        return self._scan()

    def _scan(self) -> Iterator[Entry]:
        odd_folder = ("", False)  # (project folder, its name is not normalized): files come folder by folder
        # the filename is the identity: of two files of one filename (two project or version
        # folders) the first in path order is indexed and the other reported, naming both.
        # Kept per file: the filename's hash and its folder, one string shared by the folder's
        # files, so memory stays small (a 64-bit collision is once in ~10^19 pairs)
        seen: dict[int, str] = {}
        folder = ""
        for entry, rel in self._walk(self.skipped):
            parent = entry.path[: len(entry.path) - len(rel[-1])]
            if parent != folder:
                folder = parent
            first = seen.get(hash(rel[-1]))
            if first is not None:
                self.skipped.append(Skipped(entry.path, duplicate_note(first + rel[-1])))
                continue
            seen[hash(rel[-1])] = folder
            try:
                st = entry.stat()
                try:
                    sidecar: os.stat_result | None = os.lstat(entry.path + META_SUFFIX)
                except OSError:  # absent, or unusable: then read() notes why and gives no token
                    sidecar = None
                token = token_of(st, sidecar)
            except FileNotFoundError:
                continue  # deleted while we listed
            except OSError as err:
                self.skipped.append(Skipped(entry.path, f"not read: {err.strerror or one_line(err)}"))
                continue
            # remember only the files _path would not find from name and version (few)
            if len(rel) == 3 and odd_folder[0] != rel[0]:
                odd_folder = (rel[0], normalize_name(rel[0]) != rel[0])
            if len(rel) == 2 or len(rel) > 3 or (len(rel) == 3 and odd_folder[1]):
                self._paths[rel[-1]] = Path(entry.path)
            yield Entry(rel[-1], token, entry.path)

    def read(self, entry: Entry) -> Package | None:
        root = os.path.join(self.root, "")
        rel = tuple(entry.path[len(root) :].split(os.sep)) if entry.path.startswith(root) else (entry.filename,)
        return self._read(entry.path, rel, self.skipped, self.warnings)

    def _read(
        self, path: str, rel: tuple[str, ...], skipped: MutableSequence[Skipped], warnings: MutableSequence[Skipped]
    ) -> Package | None:
        """The package of one file, or None (recorded in ``skipped`` unless simply gone)."""
        filename = rel[-1]
        layout = len(rel) == 3  # pypicloud's: name and version from the folders, as pypicloud reads it
        notes: list[str] = []
        sidecar: list[os.stat_result] = []
        try:
            name, version = (rel[0], rel[1]) if layout else parse_filename(filename)
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                raise InvalidPackage(f"not a regular file ({kind_of(st.st_mode)}): not read")
            meta = read_sidecar(path + META_SUFFIX, notes, sidecar)
            if meta is not None and filename.endswith(".whl") and "core_metadata_sha256" not in meta:
                meta = {**meta, **core_metadata_hash(path)}  # an index serves it as PEP 658 metadata
            if meta is None and is_distribution(filename):
                try:
                    with open_regular(path) as handle:
                        meta = read_archive_metadata(handle, filename)
                except InvalidPackage as err:
                    if not layout and not isinstance(err, MetadataOutOfReach):
                        raise  # a flat file is known by its archive alone, unless reading it costs too much
                    notes.append(str(err))
            meta = dict(meta or {})
            if not meta.get("hash_sha256"):  # every link of an index carries it: computed once
                meta["hash_sha256"] = file_sha256(path)
            meta.setdefault("size", st.st_size)  # an index's JSON pages give every file's size (PEP 700)
            try:
                package = Package.from_metadata(name, version, filename, mtime_of(st), meta or {})
            except InvalidPackage as err:
                notes.append(f"metadata ignored: {err}")
                package = Package(name, version, filename, mtime_of(st))
        except FileNotFoundError:
            return None  # deleted while we listed
        except InvalidPackage as err:
            skipped.append(Skipped(path, str(err)))
            return None
        except Exception as err:  # one file never stops a listing: report it and go on
            skipped.append(Skipped(path, f"not read: {type(err).__name__}: {one_line(err)}"))
            return None
        if notes:  # no token: the next graceful reload reads it again and reports it again
            warnings.append(Skipped(path, "indexed without some metadata: " + "; ".join(notes)))
        else:
            package.token = token_of(st, sidecar[0] if sidecar else None)
        return package

    def _path(self, package: Package) -> Path:
        """Where the file of ``package`` is now. The filename is the identity: when it is not
        where this package's name and version put it, it may have been uploaded again
        under another version (by another process), so the project's other version
        folders are looked in too; a re-check then sees the file that exists, not the
        absence of the one read earlier."""
        layout = self.root / package.name / package.version / package.filename
        if layout.exists():
            return layout
        known = self._paths.get(package.filename)
        if known is not None and known.exists():
            return known
        flat = self.root / package.filename
        if flat.exists():
            return flat
        try:
            with os.scandir(self.root / package.name) as versions:
                for version in versions:
                    moved = os.path.join(version.path, package.filename)
                    if version.is_dir(follow_symlinks=False) and os.path.lexists(moved):
                        return Path(moved)
        except OSError:
            pass  # no such project folder
        return layout

    def load(self, package: Package) -> Package | None:
        path = self._path(package)
        if not path.exists():
            self._check_root()  # "absent" must not be said of a storage that went away
            return None
        rel = path.relative_to(self.root).parts
        if path.is_symlink() and self._link_problem(str(path), os.path.realpath(self.root)) is not None:
            return None
        return self._read(str(path), rel, [], [])

    def recheck(self, packages: Sequence[Package]) -> list[Package | None]:
        """Two ``stat`` calls per file whose token is known (the file's and its sidecar's,
        as :meth:`scan` takes them); a full read (:meth:`load`) only of files whose token
        moved or that are absent, which also checks the folder."""
        answers: list[Package | None] = []
        for package in packages:
            if package.token is not None:
                path = str(self._path(package))
                try:
                    st = os.stat(path)
                    try:
                        sidecar: os.stat_result | None = os.lstat(path + META_SUFFIX)
                    except FileNotFoundError:
                        sidecar = None
                    if token_of(st, sidecar) == package.token:
                        answers.append(package)
                        continue
                except OSError:
                    pass  # absent or unreadable: load() says which
            answers.append(self.load(package))
        return answers

    def open(self, package: Package) -> BinaryIO:
        return self._path(package).open("rb")

    def get_url(self, package: Package) -> str:
        return str(self._path(package))

    # -- writing ---------------------------------------------------------
    def upload(self, package: Package, data: bytes | BinaryIO) -> Package:
        for part in (package.name, package.version, package.filename + META_SUFFIX):
            if len(os.fsencode(part)) > NAME_MAX:
                raise InvalidPackage(
                    f"{part[:40]!r}... is over {NAME_MAX} bytes in UTF-8, too long for a file name in storage.dir"
                )
        path = self.root / package.name / package.version / package.filename
        meta = json.dumps(package.get_metadata(), ensure_ascii=False, sort_keys=True).encode()
        sidecar = write_atomic(path.with_name(package.filename + META_SUFFIX), meta)
        written = write_atomic(path, data, mtime=package.last_modified)
        self._paths[package.filename] = path
        return package.with_token(token_of(written, sidecar))  # stored: no re-read by the next graceful reload

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
