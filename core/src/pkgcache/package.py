"""The Package model: the metadata of one distribution file.

A cache holds hundreds of thousands of these, so the class uses ``__slots__``
and does its normalizing once, in ``__init__``; everything a backend needs to
store or sort (normalized name, version sort key, aware UTC time) is ready on
the instance.

The limits below are the same on every backend, so that no backend fails
where another stores (the tightest are a SQL key column of 255 characters
and DynamoDB's 400 KB item): a package that breaks one of the identity rules
is refused with :class:`InvalidPackage`; a summary or metadata string is
cleaned (NUL removed, lone surrogates replaced) and a summary is truncated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from packaging.utils import canonicalize_name

from ._versionkey import version_key
from .exceptions import InvalidPackage

__all__ = [
    "MAX_DATA_BYTES",
    "MAX_IDENTITY_CHARS",
    "MAX_SUMMARY_CHARS",
    "Package",
    "can_be_stored",
    "check_identity",
    "is_key",
    "normalize_name",
    "to_utc",
]

#: name, version and filename: a SQL key column holds 255 characters
MAX_IDENTITY_CHARS = 255
#: summaries are truncated here; PyPI's own limit is 512
MAX_SUMMARY_CHARS = 32768
#: ``data`` as compact UTF-8 JSON; with the longest summary a DynamoDB item stays under 400 KB
MAX_DATA_BYTES = 65536
#: nesting depth of ``data`` values
MAX_DATA_DEPTH = 32
#: keys that are fields of the package, never metadata
RESERVED_KEYS = frozenset({"name", "version", "filename", "last_modified", "summary"})
#: pypicloud's sidecar suffix: a file so named would be read as another file's metadata
SIDECAR_SUFFIX = ".meta"


def normalize_name(name: str) -> str:
    """PEP 503 normalization: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return str(canonicalize_name(name))


def to_utc(value: datetime | None) -> datetime:
    """An aware UTC datetime: naive means UTC, other offsets are converted."""
    if value is None:
        return datetime.now(timezone.utc)
    if not isinstance(value, datetime):
        raise InvalidPackage(f"last_modified must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def check_identity(name: object, version: object, filename: object) -> None:
    """The one rule for valid names, versions and filenames, applied by ``Package``,
    ``Cache.upload`` (before anything is written) and storage listings alike, so
    that whatever upload accepts a reload finds again.

    Each must be a printable string (no NUL, control character or lone
    surrogate) of at most 255 characters as stored (the name once
    normalized: ``İ`` lowercases to two characters), neither blank nor
    starting with ``.`` (hidden files are temporary uploads) nor starting or
    ending with white space (MySQL's collations ignore trailing spaces, so
    ``foo`` and ``foo `` could not be told apart), holding no ``/`` or ``\\``;
    a version is ASCII; a filename does not end with ``.meta``.
    """
    for field, value in (("name", name), ("version", version), ("filename", filename)):
        if not isinstance(value, str) or not value.strip():
            raise InvalidPackage(f"Package {field} must be a non-empty string, got {value!r}")
        stored = normalize_name(value) if field == "name" else value
        if len(stored) > MAX_IDENTITY_CHARS:
            as_stored = " once normalized" if stored is not value and len(value) <= MAX_IDENTITY_CHARS else ""
            raise InvalidPackage(
                f"Package {field} {value[:40]!r}... is {len(stored)} characters{as_stored}, "
                f"over the limit of {MAX_IDENTITY_CHARS}"
            )
        if not value.isprintable():
            raise InvalidPackage(
                f"Package {field} {value!r} holds a NUL, control or non-UTF-8 character; use printable text"
            )
        if value != value.strip():
            raise InvalidPackage(f"Package {field} {value!r} starts or ends with white space; remove it")
        if "/" in value or "\\" in value or value.startswith("."):
            raise InvalidPackage(f"Package {field} {value!r} must not contain '/' or '\\' or start with '.'")
    assert isinstance(version, str) and isinstance(filename, str)  # checked above; for the type checker
    if not version.isascii():
        raise InvalidPackage(f"Package version {version!r} must be ASCII")
    if filename.endswith(SIDECAR_SUFFIX):
        raise InvalidPackage(
            f"Package filename {filename!r} must not end with {SIDECAR_SUFFIX!r}: that names a sidecar"
        )


def can_be_stored(text: str) -> bool:
    """True when ``text`` could be part of a stored value: no NUL and no lone
    surrogate (a non-UTF-8 command line argument arrives as one). Stored text
    never holds either (:func:`clean_text`), so a search term that does matches
    nothing, on every backend alike, instead of reaching a database that would
    choke on it."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_key(value: object) -> bool:
    """True when ``value`` could be a stored name or filename (:func:`check_identity`'s
    character rules): a key that could not be stored is in no cache, so ``fetch``
    and ``all`` answer None and ``[]`` without asking the backend."""
    return isinstance(value, str) and value.isprintable() and value == value.strip() and bool(value)


def clean_text(text: str) -> str:
    """``text`` without NUL characters and with lone surrogates replaced by U+FFFD:
    what every database can hold."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def _clean_value(value: Any, depth: int, bound: list[int]) -> Any:
    """``value`` with its text cleaned; adds to ``bound[0]`` an upper bound of its JSON
    size in bytes (6 per character covers ``\\u0000`` escapes and 4-byte UTF-8)."""
    if isinstance(value, str):
        bound[0] += 6 * len(value) + 3
        return clean_text(value)
    if value is None or isinstance(value, bool):
        bound[0] += 6
        return value
    if isinstance(value, int):
        bound[0] += value.bit_length() // 3 + 3
        return value
    if isinstance(value, float):
        bound[0] += 32
        return value
    if depth >= MAX_DATA_DEPTH:
        raise InvalidPackage(f"Package metadata is nested deeper than {MAX_DATA_DEPTH} levels")
    bound[0] += 2
    if isinstance(value, (list, tuple)):
        return [_clean_value(v, depth + 1, bound) for v in value]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidPackage(f"Package metadata keys must be strings, got {k!r}")
            bound[0] += 6 * len(k) + 4
            out[clean_text(k)] = _clean_value(v, depth + 1, bound)
        return out
    raise InvalidPackage(
        f"Package metadata values must be JSON (text, numbers, lists, dicts), got {type(value).__name__}"
    )


def clean_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata ready for every backend: reserved and empty keys dropped, text
    cleaned; raises :class:`InvalidPackage` when it is not JSON, nested too deep or
    over :data:`MAX_DATA_BYTES`."""
    bound = [0]
    kept = {k: v for k, v in data.items() if not _is_empty(v) and k not in RESERVED_KEYS}
    cleaned: dict[str, Any] = _clean_value(kept, 0, bound)
    if bound[0] > MAX_DATA_BYTES:  # only then is the exact size worth a json.dumps
        size = len(json.dumps(cleaned, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        if size > MAX_DATA_BYTES:
            raise InvalidPackage(f"Package metadata is {size:,} bytes as JSON, over the limit of {MAX_DATA_BYTES:,}")
    return cleaned


def clean_summary(summary: object) -> str | None:
    """A summary as every backend stores it: text cleaned, cut at :data:`MAX_SUMMARY_CHARS`."""
    if not isinstance(summary, str) or not summary:
        return None
    return clean_text(summary)[:MAX_SUMMARY_CHARS] or None


def _is_empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {} or value == ()


class Package:
    """One file of a project: ``Package(name, version, filename, last_modified, summary, **data)``.

    The filename is the identity (an sdist and each wheel of one version are
    separate packages); ``data`` holds the remaining JSON-serializable
    metadata with empty values dropped.

    Limits, the same on every backend: name, version and filename follow
    :func:`check_identity` (at most 255 printable characters, no leading
    ``.``, no separators; ASCII versions), else :class:`InvalidPackage`; the
    summary is cut at 32,768 characters; ``data`` is at most 64 KiB as JSON
    and 32 levels deep, else :class:`InvalidPackage`; NUL characters are
    removed from summary and data, lone surrogates replaced by U+FFFD.
    ``self`` is positional-only, so that any metadata key fits ``**data``.
    """

    __slots__ = ("_key", "data", "filename", "last_modified", "name", "summary", "token", "version")

    name: str
    version: str
    filename: str
    last_modified: datetime
    summary: str | None
    data: dict[str, Any]
    #: the storage's change token of the file when it was read (file storage: sizes,
    #: mtimes and inodes of the file and its sidecar), or None when no storage
    #: reading produced this package. Not metadata: never in ``to_dict``,
    #: ``get_metadata``, ``same_as`` or equality; a graceful reload re-reads a file
    #: only when its listed token differs from the stored one.
    token: str | None

    def __init__(
        self,
        /,
        name: str,
        version: str,
        filename: str,
        last_modified: datetime | None = None,
        summary: str | None = None,
        **data: Any,
    ) -> None:
        check_identity(name, version, filename)
        self.name = normalize_name(name)
        self.version = version
        self.filename = filename
        self.last_modified = to_utc(last_modified)
        self.summary = clean_summary(summary)
        self.data = clean_data(data) if data else {}
        self._key: str | None = None
        self.token = None

    @classmethod
    def from_metadata(
        cls, name: str, version: str, filename: str, last_modified: datetime | None, meta: Mapping[str, Any]
    ) -> Package:
        """A package from a storage's metadata mapping (pypicloud's ``.meta``): its
        ``summary`` is taken, keys naming other fields are ignored, any other key is data."""
        summary = meta.get("summary")
        data = {k: v for k, v in meta.items() if k not in RESERVED_KEYS}
        return cls(name, version, filename, last_modified, summary if isinstance(summary, str) else None, **data)

    @classmethod
    def restore(
        cls,
        name: str,
        version: str,
        filename: str,
        last_modified: datetime,
        summary: str | None,
        data: dict[str, Any],
        sort_key: str | None = None,
        token: str | None = None,
    ) -> Package:
        """Rebuild a package a backend stored, skipping the checks ``__init__`` made
        when it was saved: reading 5,000 files of a project must not re-normalize
        each. ``last_modified`` must be aware UTC; naive values are taken as UTC.
        """
        self = cls.__new__(cls)
        self.name = name
        self.version = version
        self.filename = filename
        self.last_modified = (
            last_modified if last_modified.tzinfo is not None else last_modified.replace(tzinfo=timezone.utc)
        )
        self.summary = summary or None
        self.data = data
        self._key = sort_key
        self.token = token
        return self

    def with_token(self, token: str | None, data: dict[str, Any] | None = None) -> Package:
        """A copy with ``token`` (and ``data``, when given): what a storage answers for the
        package it wrote, leaving the caller's object as it was."""
        return Package.restore(
            self.name,
            self.version,
            self.filename,
            self.last_modified,
            self.summary,
            dict(self.data) if data is None else data,
            self._key,
            token,
        )

    @property
    def sort_key(self) -> str:
        """Text whose byte order is PEP 440 order (invalid versions first)."""
        if self._key is None:
            self._key = version_key(self.version)
        return self._key

    def get_metadata(self) -> dict[str, Any]:
        """The metadata a storage keeps beside the file (pypicloud's ``.meta``)."""
        meta: dict[str, Any] = dict(self.data)
        if self.summary is not None:
            meta["summary"] = self.summary
        return meta

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reads it back unchanged."""
        return {
            "name": self.name,
            "version": self.version,
            "filename": self.filename,
            "last_modified": self.last_modified.isoformat(),
            "summary": self.summary,
            **self.data,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Package:
        values = dict(values)
        modified = values.pop("last_modified", None)
        if isinstance(modified, str):
            modified = datetime.fromisoformat(modified)
        return cls(last_modified=modified, **values)

    def data_json(self) -> str:
        """``data`` as compact JSON with sorted keys, for backends that store text."""
        return json.dumps(self.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def same_as(self, other: Package) -> bool:
        """True when every field is equal, not just the filename."""
        return (
            self.filename == other.filename
            and self.name == other.name
            and self.version == other.version
            and self.last_modified == other.last_modified
            and self.summary == other.summary
            and self.data == other.data
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Package):
            return NotImplemented
        return self.filename == other.filename

    def __hash__(self) -> int:
        return hash(self.filename)

    def __repr__(self) -> str:
        return f"Package({self.name!r}, {self.version!r}, {self.filename!r}, last_modified={self.last_modified.isoformat()!r})"
