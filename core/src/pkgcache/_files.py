"""The file storage's dealings with the file system: opening only regular files, reading
sidecars within bounds, change tokens from ``stat``, hashes, and atomic writes.

Apart from :mod:`pkgcache.file_storage`, which decides what a folder holds
(layouts, symbolic link policy, the listing): everything here is one file at
a time, and none of it trusts what it opens.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

from ._metadata import one_line, read_archive_metadata
from .exceptions import InvalidPackage
from .package import SIDECAR_SUFFIX
from .storage import shown_path

__all__ = [
    "EPOCH",
    "FOLDER_ATTEMPTS",
    "KINDS",
    "MAX_SIDECAR_BYTES",
    "META_SUFFIX",
    "NAME_MAX",
    "OPEN_FLAGS",
    "UNCHECKED_DEPTH",
    "core_metadata_hash",
    "current_umask",
    "duplicate_note",
    "file_sha256",
    "is_utf8",
    "kind_of",
    "mtime_of",
    "open_regular",
    "read_sidecar",
    "sorted_entries",
    "token_of",
    "write_atomic",
]

META_SUFFIX = SIDECAR_SUFFIX
#: a larger sidecar is ignored (pypicloud's hold a few hundred bytes)
MAX_SIDECAR_BYTES = 1 << 20
#: bytes in one path component on common file systems (ext4, XFS, APFS, NTFS in UTF-16 units)
NAME_MAX = 255
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)  # a FIFO never blocks
#: folders this deep below the root (pypicloud's name/version) skip the loop check's stat
UNCHECKED_DEPTH = 2
KINDS = {stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket", stat.S_IFCHR: "character device", stat.S_IFBLK: "block device"}


def mtime_of(st: os.stat_result) -> datetime:
    return EPOCH + timedelta(microseconds=st.st_mtime_ns // 1000)


def kind_of(mode: int) -> str:
    return KINDS.get(stat.S_IFMT(mode), "special file")


def is_utf8(name: str) -> bool:
    """False for a name ``os.fsdecode`` had to surrogate-escape (bytes that are not UTF-8)."""
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def open_regular(path: str, flags: int = OPEN_FLAGS) -> BinaryIO:
    """Open ``path`` for reading, refusing anything but a regular file (never blocks on a FIFO)."""
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InvalidPackage(f"not a regular file ({kind_of(mode)}): not read")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def token_of(st: os.stat_result, sidecar: os.stat_result | None) -> str:
    """The change token of a file and its sidecar: size, mtime_ns and inode of each
    (the inode changes on every ``os.replace``, so an upload within one clock
    tick of the previous one still changes the token)."""
    token = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
    if sidecar is None:
        return token
    return f"{token}/{sidecar.st_size}:{sidecar.st_mtime_ns}:{sidecar.st_ino}"


def read_sidecar(path: str, notes: list[str], stats: list[os.stat_result]) -> dict[str, Any] | None:
    """The sidecar's JSON object, or None (absent, or unusable: then a note says why);
    appends the stat of the sidecar it opened to ``stats``."""
    try:  # a bare descriptor: a file object per sidecar costs more than the rest of the read
        fd = os.open(path, OPEN_FLAGS | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as err:
        notes.append(f"sidecar not read: {err.strerror or one_line(err)}")
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            notes.append(f"sidecar not read: not a regular file ({kind_of(st.st_mode)}): not read")
            return None
        stats.append(st)
        want = min(st.st_size, MAX_SIDECAR_BYTES) + 1  # what fstat announces, and one byte to see more
        raw = b""
        while len(raw) < want and (chunk := os.read(fd, want - len(raw))):
            raw += chunk
    except OSError as err:
        notes.append(f"sidecar not read: {err.strerror or one_line(err)}")
        return None
    finally:
        os.close(fd)
    if len(raw) > MAX_SIDECAR_BYTES:
        notes.append(f"sidecar ignored: over {MAX_SIDECAR_BYTES >> 20} MiB")
        return None
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as err:
        notes.append(f"sidecar ignored, not valid JSON metadata: {one_line(err)}")
        return None
    if not isinstance(meta, dict):
        notes.append("sidecar ignored, not valid JSON metadata: it is not a JSON object")
        return None
    return meta


def file_sha256(path: str) -> str:
    """The sha256 of the file's bytes: recorded at reload for files that have none (the
    change token keeps it, so a graceful reload computes it once per file version)."""
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def core_metadata_hash(path: str) -> dict[str, str]:
    """``{"core_metadata_sha256": ...}`` of a wheel whose sidecar lacks it; nothing when
    the wheel cannot be read (its sidecar still indexes it)."""
    try:
        with open_regular(path) as handle:
            found = read_archive_metadata(handle, os.path.basename(path))
    except (InvalidPackage, OSError):
        return {}
    return {k: v for k, v in found.items() if k == "core_metadata_sha256"}


def duplicate_note(first: str) -> str:
    """Why a second file of one filename is not indexed (the first's path named)."""
    return (
        f"same filename as {shown_path(first)!r}, which comes first in path order: "
        "not indexed (delete the copy not wanted)"
    )


def sorted_entries(folder: str) -> Iterator[os.DirEntry[str]]:
    """The entries of ``folder`` in name order (the ``scandir`` closed at once)."""
    with os.scandir(folder) as found:
        return iter(sorted(found, key=lambda entry: entry.name))


def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (``os.umask``
    sets it, briefly, for every thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: a concurrent delete can remove the folder an upload just made; each loss means it progressed
FOLDER_ATTEMPTS = 20


def write_atomic(path: Path, data: bytes | BinaryIO, mtime: datetime | None = None) -> os.stat_result:
    """Write through a temporary file and ``os.replace``; returns the stat of what
    was written (the rename keeps size, mtime and inode), for the change token."""
    for attempt in range(FOLDER_ATTEMPTS):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
            break
        except (FileNotFoundError, FileExistsError):
            # a concurrent delete removed a folder it had just emptied: mkstemp finds no folder,
            # or mkdir saw the folder but pathlib's is_dir() check came after the rmdir
            if attempt == FOLDER_ATTEMPTS - 1:
                raise
    try:
        # what open() would give a new file (as pypicloud's are): mkstemp's 0600 would hide
        # it from a web server running as another user
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as out:
            if isinstance(data, bytes):
                out.write(data)
            else:
                while chunk := data.read(1 << 20):
                    out.write(chunk)
        if mtime is not None:
            ns = (mtime - EPOCH) // timedelta(microseconds=1) * 1000
            os.utime(tmp, ns=(ns, ns))
        written = os.stat(tmp)
        os.replace(tmp, path)
        return written
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
