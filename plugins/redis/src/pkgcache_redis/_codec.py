"""A file's stored JSON: the package's fields under one-letter keys, the change token first.

The token (``"o"``, left out when None) leads
the object, so that listing the tokens of every file (what a graceful reload
compares with the storage) decodes one string per file, not the whole
object: about 0.4 µs instead of 3.4 µs for a typical 360-byte row.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from pkgcache import Package

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_TOKEN_AHEAD = '{"o":"'
_NO_TOKEN = '{"n":'
_DECODER = json.JSONDecoder()
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def micros(value: datetime) -> str:
    return f"{(value - _EPOCH) // timedelta(microseconds=1):020d}"


def time_of(micros: str) -> datetime:
    return _EPOCH + timedelta(microseconds=int(micros))


def encode(p: Package) -> str:
    fields: dict[str, object] = {} if p.token is None else {"o": p.token}
    fields.update(n=p.name, v=p.version, f=p.filename, k=p.sort_key, t=micros(p.last_modified), s=p.summary, d=p.data)
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def fields(raw: str) -> dict[str, Any]:
    """A file's stored JSON as a dict. The decoder's C scanner straight away: half the
    time of json.loads, which checks for whitespace around the object in Python."""
    try:
        d: dict[str, Any] = _SCAN(raw, 0)[0]
    except StopIteration:  # not JSON: let json.loads say where
        d = json.loads(raw)
    return d


def decode(raw: str) -> Package:
    d = fields(raw)
    return Package.restore(d["n"], d["v"], d["f"], time_of(d["t"]), d["s"], d["d"], d["k"], token=d.get("o"))


def token_of(raw: str) -> str | None:
    """The stored token of a file's JSON, reading only that string when it leads."""
    if raw.startswith(_TOKEN_AHEAD):
        token: str = _DECODER.raw_decode(raw, len(_TOKEN_AHEAD) - 1)[0]
        return token
    if raw.startswith(_NO_TOKEN):
        return None
    token_or_none: str | None = json.loads(raw).get("o")
    return token_or_none
