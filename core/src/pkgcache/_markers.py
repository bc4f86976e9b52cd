"""What every backend gets from the base class without writing it: the keys rule on its reads,
and change markers computed from what it stores when it keeps none of its own.

:func:`keys_only` wraps a backend's ``fetch``, ``all`` and ``project_token``
(``Cache.__init_subclass__`` applies it) so that a key no cache can hold
answers nothing on every backend alike. The digests are the default change
markers: right, but they read the project's rows; a backend with a stored
marker overrides ``project_token`` and ``index_token``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from .package import Package, is_key

__all__ = ["digest_of_names", "digest_of_packages", "keys_only"]


def keys_only(method: Callable[[Any, str], Any], missing: object) -> Callable[[Any, str], Any]:
    """``method`` answering ``missing`` for a key that no cache can hold (a NUL, a lone
    surrogate from a non-UTF-8 argument, surrounding spaces): every backend then
    answers alike, where a database would raise or compare loosely."""

    @functools.wraps(method)
    def guarded(self: Any, key: str) -> Any:
        if not is_key(key):
            return list(missing) if isinstance(missing, list) else missing
        return method(self, key)

    guarded.__keys_only__ = True  # type: ignore[attr-defined]
    return guarded


def digest_of_packages(packages: Iterable[Package]) -> str:
    """A digest of every stored field of ``packages``: equal digests, equal ``all(name)``."""
    digest = hashlib.blake2b(digest_size=16)
    for package in packages:
        digest.update(package.data_json().encode())
        digest.update(f"\0{package.filename}\0{package.version}\0{package.summary}\0".encode())
        digest.update(f"{package.last_modified.isoformat()}\0{package.token}\n".encode())
    return digest.hexdigest()


def digest_of_names(names: Iterable[str]) -> str:
    """A digest of the project list."""
    digest = hashlib.blake2b(digest_size=16)
    for name in names:
        digest.update(name.encode() + b"\n")
    return digest.hexdigest()
