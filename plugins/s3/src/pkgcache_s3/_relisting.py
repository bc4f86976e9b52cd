"""Listing again the few pages of a bucket that hold the files a reload re-checks.

A re-check of many files by HEAD would double a graceful reload's requests;
the pages of the last listing that hold them, listed again all at once, give
their current tokens in at most as many requests as the listing had pages.
A mixin of :class:`~pkgcache_s3.storage.S3Storage`.
"""

from __future__ import annotations

from bisect import bisect_left
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pkgcache import StorageUnavailable

from .settings import S3Settings

__all__ = ["PAGE", "Relisting", "token_of"]

#: objects in one ListObjectsV2 page (S3's most)
PAGE = 1000


def token_of(etag: str, size: int, modified: datetime) -> str:
    """ETag and size catch new bytes; LastModified (whole seconds, as both a listing
    and a HEAD give it) catches new metadata on the same bytes."""
    return f"{etag.strip(chr(34))}:{size}:{int(modified.timestamp())}"


class Relisting:
    """List requests for the current tokens of chosen keys."""

    settings: S3Settings
    bucket: str
    client: Any

    def _unavailable(self, err: Exception) -> StorageUnavailable:
        raise NotImplementedError  # S3Storage's

    def _tokens_now(self, keys: set[str], ends: list[str]) -> dict[str, str]:
        """The current token of each of ``keys`` that exists, from list requests.

        Each page of the last listing (``ends``: its last keys) that held or
        would hold a wanted key is listed again, all at once (``head_concurrency``
        at a time), from the end of the page before: at most the pages of a whole
        listing, in about the time of one. A page that no longer reaches a wanted
        key (objects were added before it since) leaves that key to
        :meth:`_tokens_after`, one page after another from there.
        """
        wanted = sorted(keys)  # S3 lists in UTF-8 byte order, which is code point order
        prefix = self.settings.prefix if all(k.startswith(self.settings.prefix) for k in wanted) else ""
        starts = sorted({bisect_left(ends, key) for key in wanted})  # page j holds (ends[j - 1], ends[j]]
        afters = [ends[j - 1] if j else "" for j in starts]
        with ThreadPoolExecutor(min(len(afters), self.settings.head_concurrency), "pkgcache-s3-list") as pool:
            pages = list(pool.map(lambda after: self._list_after(prefix, after), afters))
        found: dict[str, str] = {}
        reached: dict[str, str | None] = {}  # where each listing started -> its last key (None: to the end)
        for after, page in zip(afters, pages, strict=True):
            contents = page.get("Contents", ())
            for obj in contents:
                if obj["Key"] in keys:
                    found[obj["Key"]] = token_of(obj["ETag"], obj["Size"], obj["LastModified"])
            reached[after] = contents[-1]["Key"] if page.get("IsTruncated") and contents else None
        left = set()
        for key in wanted:
            j = bisect_left(ends, key)
            last = reached[ends[j - 1] if j else ""]
            if last is not None and key > last and key not in found:
                left.add(key)
        if left:
            found.update(self._tokens_after(left, prefix))
        return found

    def _list_after(self, prefix: str, after: str) -> dict[str, Any]:
        """One list request of up to 1,000 objects after the key ``after`` ("": from the start)."""
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": PAGE}
        if after:
            request["StartAfter"] = after
        try:
            page: dict[str, Any] = self.client.list_objects_v2(**request)
        except (ClientError, BotoCoreError) as err:
            raise self._unavailable(err) from None
        return page

    def _tokens_after(self, keys: set[str], prefix: str) -> dict[str, str]:
        """The current tokens of ``keys``, one list request after another.

        Each request starts just before the next wanted key not yet seen (after
        that key less its last character, which sorts before it with nothing but
        near namesakes between), or after the previous page when that is further;
        one page of 1,000 objects settles every wanted key it reaches.
        """
        wanted = sorted(keys)
        found: dict[str, str] = {}
        i, after = 0, ""
        while i < len(wanted):
            after = max(after, wanted[i][:-1])
            page = self._list_after(prefix, after)
            contents = page.get("Contents", ())
            for obj in contents:
                if obj["Key"] in keys:
                    found[obj["Key"]] = token_of(obj["ETag"], obj["Size"], obj["LastModified"])
            if not page.get("IsTruncated") or not contents:
                break  # the listing reached the end: what it lacks is gone
            after = contents[-1]["Key"]
            while i < len(wanted) and wanted[i] <= after:
                i += 1
        return found
