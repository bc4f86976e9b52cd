"""What a backend or storage plugin builds on: the public names a plugin author needs.

Plugins (the SQL, Redis, DynamoDB and S3 distributions, and third-party ones)
import from here and from :mod:`pkgcache`, never from core's ``_private``
modules, so that core can reorganize its internals without breaking them; a
test of the suite checks it. Everything here is re-exported from the module
that defines it, so there is one implementation of each rule:

- the row rules every backend must agree on (``rules``): the order of
  ``all()``, the project row (best file of the highest version, newest time)
  and search matching. A backend that computes one of them in its database is
  tested against these on generated data;
- the keys-and-values rule: which names, versions and filenames can be stored
  (``is_key``, ``can_be_stored``); queries for anything else answer nothing;
- the reload lease, for backends shared between processes: ``LeaseOps`` is
  the three primitives (take, renew, give back) a backend supplies, and
  ``hold_lease`` the loop that renews it while a reload runs;
- secret handling for connection URLs: ``SecretUrl``, ``mask_url``,
  ``url_secrets``, ``scrub`` and the percent-encoding advice;
- storage listing records (``Entry``, ``Skipped``) and filename parsing;
- the settings bases and the error classes (from :mod:`pkgcache.exceptions`).
"""

from __future__ import annotations

from ._lease import DEFAULT_TTL as LEASE_TTL
from ._lease import LeaseOps, hold_lease
from ._metadata import parse_filename
from ._plugin_settings import BackendSettings, StorageSettings
from ._reload import BATCH
from ._secrets import PERCENT_ENCODING_ADVICE, SecretUrl, mask_url, password_needs_encoding, scrub, url_secrets
from .exceptions import (
    CacheBusy,
    CacheError,
    CacheFull,
    CacheRefused,
    CacheUnavailable,
    InvalidPackage,
    MetadataOutOfReach,
    PackageExists,
    PkgcacheError,
    StorageUnavailable,
)
from .package import can_be_stored, is_key
from .rules import best_and_newest, matches, search_packages, sort_packages, summarize
from .storage import Entry, Skipped

__all__ = [
    "BATCH",
    "LEASE_TTL",
    "PERCENT_ENCODING_ADVICE",
    "BackendSettings",
    "CacheBusy",
    "CacheError",
    "CacheFull",
    "CacheRefused",
    "CacheUnavailable",
    "Entry",
    "InvalidPackage",
    "LeaseOps",
    "MetadataOutOfReach",
    "PackageExists",
    "PkgcacheError",
    "SecretUrl",
    "Skipped",
    "StorageSettings",
    "StorageUnavailable",
    "best_and_newest",
    "can_be_stored",
    "hold_lease",
    "is_key",
    "mask_url",
    "matches",
    "parse_filename",
    "password_needs_encoding",
    "scrub",
    "search_packages",
    "sort_packages",
    "summarize",
    "url_secrets",
]
