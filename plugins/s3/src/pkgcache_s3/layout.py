"""pypicloud's object layout and metadata, both ways, so one bucket serves both.

Key: ``prefix`` + (first 4 hex digits of md5(filename) + ``/`` when
``prepend_hash``) + name + ``/`` + filename.

User metadata: ``name``, ``version`` and pypicloud's fields (``summary``,
``requires-python``, ``hash-sha256``, ``hash-md5``, ``uploader``) with ``_``
in keys written as ``-``, as pypicloud writes them. Two keys of our own, which
pypicloud ignores: ``pkgcache-modified`` (the upload time to the microsecond;
S3's own LastModified has whole seconds) and ``pkgcache-data`` (JSON of any
other metadata).

Values: S3 carries metadata as HTTP headers, ASCII only; pypicloud strips
every other character, losing "Café" for good. We keep plain ASCII values as
they are and write any other value as one RFC 2047 encoded word
(``=?utf-8?b?...?=``), the encoding S3 itself uses for non-ASCII metadata,
so pypicloud still reads text and we read the exact value back.
"""

from __future__ import annotations

import email.charset
import email.errors
import email.header
import hashlib
import json
import posixpath
import re
from datetime import datetime
from typing import Any

from pkgcache import InvalidPackage, Package
from pkgcache.plugin import parse_filename

__all__ = ["decode_value", "encode_value", "object_key", "package_from_metadata", "package_metadata"]

#: pypicloud's METADATA_FIELDS
PYPICLOUD_FIELDS = ("requires_python", "summary", "hash_sha256", "hash_md5", "uploader")
MODIFIED_KEY = "pkgcache-modified"
DATA_KEY = "pkgcache-data"
#: S3 refuses user metadata over 2 KB (keys and values, UTF-8)
METADATA_LIMIT = 2048

#: RFC 2047 "b" words in UTF-8, written and read by the standard library's email package
_UTF8 = email.charset.Charset("utf-8")
_UTF8.header_encoding = email.charset.BASE64
_ENCODED_WORD = re.compile(r"=\?utf-8\?b\?([A-Za-z0-9+/=]*)\?=", re.IGNORECASE)
_PLAIN = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")


def object_key(prefix: str, prepend_hash: bool, name: str, filename: str) -> str:
    path = f"{name}/{filename}"
    if prepend_hash:
        path = hashlib.md5(filename.encode("utf-8")).hexdigest()[:4] + "/" + path
    return prefix + path


def encode_value(value: str) -> str:
    """ASCII that S3 keeps as it is: plain text unchanged, anything else as an RFC 2047 word.

    "Anything else": non-ASCII, control characters, spaces at either end (HTTP
    trims them) and text that would read back as an encoded word.
    """
    if _PLAIN.fullmatch(value) and not _ENCODED_WORD.fullmatch(value):
        return value
    return _UTF8.header_encode(value)  # one word, never folded: S3 keeps a value on one line


def decode_value(value: str) -> str:
    """The text of an RFC 2047 word (ours, or S3's for non-ASCII); other values unchanged."""
    if _ENCODED_WORD.fullmatch(value) is None:
        return value
    try:
        ((raw, charset),) = email.header.decode_header(value)
        return raw.decode(charset or "ascii") if isinstance(raw, bytes) else raw
    except (email.errors.HeaderParseError, UnicodeDecodeError, LookupError, ValueError):
        return value  # it only looked like one


def package_metadata(package: Package) -> dict[str, str]:
    """The user metadata of ``package``'s object (encoded, size-checked)."""
    meta: dict[str, str] = {"name": package.name, "version": package.version}
    extra: dict[str, Any] = {}
    for key, value in package.get_metadata().items():
        if key in PYPICLOUD_FIELDS and isinstance(value, str):
            meta[key.replace("_", "-")] = value
        elif key == "path":
            continue  # where a listing found the object (pypicloud's too), not metadata
        else:
            extra[key] = value
    meta[MODIFIED_KEY] = package.last_modified.isoformat()
    if extra:
        meta[DATA_KEY] = json.dumps(extra, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    encoded = {k: encode_value(v) for k, v in meta.items()}
    size = sum(len(k) + len(v) for k, v in encoded.items())
    if size > METADATA_LIMIT:
        raise InvalidPackage(
            f"metadata of {package.filename!r} is {size:,} bytes, over S3's 2 KB limit for user metadata: "
            "shorten its summary or other metadata"
        )
    return encoded


def package_from_metadata(key: str, metadata: dict[str, str], s3_modified: datetime) -> Package:
    """The package of object ``key``, read as pypicloud reads it; raises InvalidPackage."""
    filename = posixpath.basename(key)
    blob = {k.lower(): decode_value(v) for k, v in metadata.items()}
    name, version = blob.get("name"), blob.get("version")
    if not name or not version:  # pypicloud's oldest uploads had no metadata
        name, version = parse_filename(filename)
    data: dict[str, Any] = {}
    if DATA_KEY in blob:
        try:
            extra = json.loads(blob[DATA_KEY])
        except ValueError as err:
            raise InvalidPackage(f"metadata {DATA_KEY} is not JSON: {err}") from err
        if isinstance(extra, dict):
            data.update(extra)
    for field in PYPICLOUD_FIELDS:
        value = blob.get(field) or blob.get(field.replace("_", "-"))
        if value:
            data[field] = value
    modified = s3_modified
    if MODIFIED_KEY in blob:
        try:
            modified = datetime.fromisoformat(blob[MODIFIED_KEY])
        except ValueError as err:
            raise InvalidPackage(f"metadata {MODIFIED_KEY} is not an ISO time: {blob[MODIFIED_KEY]!r}") from err
    summary = data.pop("summary", None)
    return Package(name, version, filename, modified, summary if isinstance(summary, str) else None, **data)
