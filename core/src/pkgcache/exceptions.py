"""Every error pkgcache raises on purpose, in one place.

Messages name the key, file or backend involved (with ``!r``) and say what
would be right, so that a user can act on a single line. None of them ever
contains a secret: URLs are masked before they are put into a message.
"""

from __future__ import annotations

from dataclasses import dataclass


class PkgcacheError(Exception):
    """Base class: catch this to handle any error pkgcache raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration.

    ``key`` is the configuration key (``db.port``) or ``None`` for a problem of
    the whole file; ``file`` and ``line`` say where the value came from, when
    known (an environment variable is named in ``file``).
    """

    key: str | None
    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "message": self.message, "file": self.file, "line": self.line}


class ConfigError(PkgcacheError, ValueError):
    """Invalid configuration; ``problems`` lists every problem found at once."""

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(None, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class BackendNotInstalled(ConfigError):
    """A known backend or storage was chosen but its distribution is absent."""


class CacheError(PkgcacheError):
    """The cache's database failed an operation; subclasses say why.

    Catch this to handle every database failure; catch a subclass to act on
    one cause (retry later on :class:`CacheUnavailable`, alert on
    :class:`CacheFull`).
    """


class CacheUnavailable(CacheError):
    """The backend cannot reach its server, or it timed out; the message names backend and address."""


class CacheRefused(CacheError):
    """The server answered and refused: the database does not exist, the user is unknown,
    the password is wrong. Not a network problem: the message says what to fix."""


class CacheFull(CacheError):
    """The database or its disk is full: nothing more can be written until room is made."""


class CacheBusy(CacheError):
    """A write kept meeting deadlocks or lock timeouts, and its retries ran out."""


class SearchTermTooLong(CacheError, ValueError):
    """A search term is longer than the backend can match; the message gives the limit."""


class StorageUnavailable(PkgcacheError):
    """The storage cannot be read (a missing folder, a missing bucket): nothing is listed from it."""


class ReloadRefused(PkgcacheError):
    """A reload would empty the cache or remove more of it than allowed; the message says
    how to force it. The cache is left untouched."""


class PackageExists(PkgcacheError):
    """``upload(..., overwrite=False)`` met a filename that is already stored."""


class InvalidPackage(PkgcacheError, ValueError):
    """A file name, version or field that cannot make a valid Package."""


class MetadataOutOfReach(InvalidPackage):
    """An archive whose metadata lies past the decompression bound: the file is indexed
    by its name alone (with one warning), never decompressed further."""
