"""A lease: the cross-process reload lock that a dead holder cannot keep.

A plain lock held by a process that was killed stalls every other process
for the whole reload timeout (600 s by default). A lease instead expires
``ttl`` seconds after it was last renewed, and its holder renews it from a
daemon thread for as long as it lives. So:

* a dead holder's lease is taken over at most ``ttl`` seconds after it died;
* a reload that lasts longer than any timeout still cannot run twice,
  because its living holder keeps renewing.

A backend supplies three operations that its database makes atomic, each
keyed by an owner token this module draws (a ``SET NX PX`` and two small
scripts in Redis, a conditional write in DynamoDB, one guarded ``UPDATE``
in SQL); :func:`hold_lease` does the polling, renewing and releasing once
for all of them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["DEFAULT_TTL", "LeaseOps", "hold_lease"]

log = logging.getLogger(__name__)

#: seconds a lease lives without renewal: the longest a dead holder blocks others
DEFAULT_TTL = 30.0
_POLL_MIN, _POLL_MAX = 0.02, 0.5


@dataclass(frozen=True)
class LeaseOps:
    """The three atomic operations a backend provides on its database.

    ``acquire(owner, ttl)``: take the lease when it is free or expired, for
    ``ttl`` seconds; True when taken. ``renew(owner, ttl)``: extend it by
    ``ttl`` seconds from now if ``owner`` still holds it; True when extended.
    ``release(owner)``: free it if ``owner`` still holds it (never someone
    else's). Each may raise the backend's own errors.
    """

    acquire: Callable[[str, float], bool]
    renew: Callable[[str, float], bool]
    release: Callable[[str], None]


class _Renewer(threading.Thread):
    """Renews the lease every third of its life until stopped."""

    def __init__(self, ops: LeaseOps, owner: str, ttl: float) -> None:
        super().__init__(name="pkgcache-lease", daemon=True)
        self.ops, self.owner, self.ttl = ops, owner, ttl
        self.stopped = threading.Event()
        #: set when a renewal found the lease taken over: another process may run the same work
        self.lost = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.ttl / 3):
            try:
                if not self.ops.renew(self.owner, self.ttl):
                    self.lost.set()
                    log.error("the reload lease expired and was taken over; another process may reload too")
                    return
            except Exception as err:  # a passing server error: try again at the next tick
                log.warning("could not renew the reload lease (retrying): %s", err)

    def stop(self) -> None:
        self.stopped.set()
        self.join()


@contextmanager
def hold_lease(ops: LeaseOps, timeout: float, ttl: float = DEFAULT_TTL) -> Iterator[bool]:
    """Hold the lease while the block runs; yields False when ``timeout`` seconds passed first.

    Polls ``ops.acquire`` with growing, jittered pauses (so that waiting
    processes do not hammer the database in step), renews every ``ttl / 3``
    seconds while held, and releases on exit, also on error.
    """
    if ttl <= 0:
        raise ValueError(f"lease ttl must be positive, not {ttl!r}")
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + timeout
    pause = _POLL_MIN
    held = ops.acquire(owner, ttl)
    while not held:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(left, pause * random.uniform(0.5, 1.0)))
        pause = min(pause * 2, _POLL_MAX)
        held = ops.acquire(owner, ttl)
    if not held:
        yield False
        return
    renewer = _Renewer(ops, owner, ttl)
    renewer.start()
    try:
        yield True
    finally:
        renewer.stop()
        ops.release(owner)
