"""Work a server does beside its requests: the first fill of an empty cache, and the
periodic graceful reload that ``pypi.reload_interval`` asks for.

Start-up never waits for a fill: the fill runs in a thread while index pages
answer 503 with ``Retry-After`` (never an empty index), so a large storage
cannot outlive a service manager's start-up timeout. Of several servers on one
cache, one fills it (``Cache.reload_if_needed``'s lock) and, at each interval,
one reloads (the same lease, taken without waiting): the others keep serving.
"""

from __future__ import annotations

import logging
import threading

from pkgcache import Cache

__all__ = ["Background"]

log = logging.getLogger("pkgcache.serve")


class Background:
    def __init__(self, cache: Cache, interval: float | None) -> None:
        self.cache = cache
        self.interval = interval
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the fill and reload threads; a cache already filled makes the server ready
        at once, before it accepts a request (each worker of ``--workers N`` would
        otherwise answer 503 until its own fill thread had looked)."""
        try:
            if not self.cache.is_empty():
                self.ready.set()
        except Exception as err:  # the fill thread retries and says why
            log.warning("cannot tell whether the cache is filled yet: %s", err)
        self._threads = [threading.Thread(target=self._fill, name="pkgcache-fill", daemon=True)]
        if self.interval:
            self._threads.append(threading.Thread(target=self._reloads, name="pkgcache-reload", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _fill(self) -> None:
        while not self._stop.is_set():
            try:
                result = self.cache.reload_if_needed()
            except Exception as err:  # a storage or cache not there yet: say so, try again
                log.warning("filling the cache failed, trying again in 5 s: %s", err)
                self._stop.wait(5)
                continue
            if result is None and self._still_empty():
                continue  # another server's fill outlasted the wait (or failed): wait again
            if result is not None:
                log.info("filled the cache from the storage: %s", result)
            self.ready.set()
            return

    def _still_empty(self) -> bool:
        try:
            return not self.cache.distinct()
        except Exception as err:
            log.warning("cannot tell whether the cache is filled, trying again in 5 s: %s", err)
            self._stop.wait(5)
            return True

    def _reloads(self) -> None:
        assert self.interval is not None
        while not self._stop.wait(self.interval):
            try:
                with self.cache.reload_lease(0) as held:  # another server reloads: skip this turn
                    if held:
                        result = self.cache.reload_from_storage(graceful=True)
                        log.info("graceful reload: %s", result)
            except Exception as err:
                log.warning("graceful reload failed: %s", err)
