"""The Package model: the metadata of one distribution file.

A cache holds hundreds of thousands of these, so the class uses ``__slots__``
and does its normalizing once, in ``__init__``; everything a backend needs to
store or sort (normalized name, version sort key, aware UTC time) is ready on
the instance.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from packaging.utils import canonicalize_name

from ._versionkey import version_key
from .exceptions import InvalidPackage

__all__ = ["Package", "normalize_name", "to_utc"]


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


def _is_empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {} or value == ()


class Package:
    """One file of a project: ``Package(name, version, filename, last_modified, summary, **data)``.

    The filename is the identity (an sdist and each wheel of one version are
    separate packages); ``data`` holds the remaining JSON-serializable
    metadata with empty values dropped.
    """

    __slots__ = ("_key", "data", "filename", "last_modified", "name", "summary", "version")

    name: str
    version: str
    filename: str
    last_modified: datetime
    summary: str | None
    data: dict[str, Any]

    def __init__(
        self,
        name: str,
        version: str,
        filename: str,
        last_modified: datetime | None = None,
        summary: str | None = None,
        **data: Any,
    ) -> None:
        for field, value in (("name", name), ("version", version), ("filename", filename)):
            if not isinstance(value, str) or not value.strip():
                raise InvalidPackage(f"Package {field} must be a non-empty string, got {value!r}")
        for field, value in (("name", name), ("version", version), ("filename", filename)):
            if "/" in value or "\\" in value or value in (".", ".."):
                raise InvalidPackage(f"Package {field} {value!r} must not contain '/' or '\\' or be '.' or '..'")
        self.name = normalize_name(name)
        self.version = version
        self.filename = filename
        self.last_modified = to_utc(last_modified)
        self.summary = summary or None
        self.data = {k: v for k, v in data.items() if not _is_empty(v)}
        self._key: str | None = None

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
        return self

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
