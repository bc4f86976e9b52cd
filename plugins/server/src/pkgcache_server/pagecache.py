"""Rendered pages kept per process, keyed by the cache's change marker.

A page is stored under ``(path, marker, content type)``, where the marker is
what ``Cache.project_token`` or ``Cache.index_token`` answers *now*: every
request reads the marker afresh, so a page is never served after an upload
or delete through any frontend, and an unchanged project costs one small
read of the cache plus bytes already rendered (and already compressed).
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["GZIP_FROM", "Page", "PageCache"]

#: pages at least this long are sent compressed to clients that accept gzip
GZIP_FROM = 1024


@dataclass(frozen=True)
class Page:
    """A rendered page: its bytes, the same gzipped (long pages only), its ETag."""

    body: bytes
    gzipped: bytes | None
    etag: str

    @classmethod
    def of(cls, body: bytes, etag: str) -> Page:
        gzipped = gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= GZIP_FROM else None
        return cls(body, gzipped, etag)

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped or b"")


class PageCache:
    """A bounded least-recently-used map of pages (entries and bytes both bounded)."""

    def __init__(self, max_pages: int = 4096, max_bytes: int = 128 << 20) -> None:
        self.max_pages, self.max_bytes = max_pages, max_bytes
        self._pages: OrderedDict[tuple[str, str, str], Page] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> Page | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: tuple[str, str, str], page: Page) -> None:
        if page.size > self.max_bytes // 4:
            return  # one huge page would evict everything else
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._pages[key] = page
            self._bytes += page.size
            while len(self._pages) > self.max_pages or self._bytes > self.max_bytes:
                _, evicted = self._pages.popitem(last=False)
                self._bytes -= evicted.size
