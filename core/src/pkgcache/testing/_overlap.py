"""Proof that concurrent workers really ran at the same time.

A concurrency test that passes because the machine happened to run its
threads one after the other proves nothing. Each worker records the
monotonic start and end of every operation in a :class:`Timeline`; the test
counts how often two workers' operations overlapped and only asserts once
that count is high enough, running more rounds (a bounded number) until it
is. No sleeps, no timing assertions: only the order of events.
"""

from __future__ import annotations

import bisect
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["ReloadGate", "Timeline", "assert_one_reloaded_while_others_called", "busy_switching", "run_threads"]


class Timeline:
    """Monotonic ``(start, end)`` spans of the operations of each worker."""

    def __init__(self, workers: int) -> None:
        self.spans: list[list[tuple[float, float]]] = [[] for _ in range(workers)]

    @contextmanager
    def span(self, worker: int) -> Iterator[None]:
        """Record the operation run inside the ``with`` as one span of ``worker``."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.spans[worker].append((start, time.monotonic()))

    def overlaps(self, a: int = 0, b: int = 1) -> int:
        """How many spans of worker ``a`` overlap at least one span of worker ``b``.

        A worker runs its operations one after the other, so its spans are
        disjoint and sorted: the last span of ``b`` that starts before a span
        of ``a`` ends is the only candidate that matters.
        """
        others = sorted(self.spans[b])
        starts = [s for s, _ in others]
        count = 0
        for start, end in self.spans[a]:
            i = bisect.bisect_left(starts, end) - 1
            if i >= 0 and others[i][1] > start:
                count += 1
        return count


def run_threads(*targets: Callable[[], None]) -> None:
    """Run the targets in threads released together; re-raise the first error of any."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def run(target: Callable[[], None]) -> None:
        try:
            barrier.wait()
            target()
        except BaseException as err:  # re-raised in the test's thread below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@contextmanager
def busy_switching(interval: float = 1e-5) -> Iterator[None]:
    """Let the interpreter switch threads often, so in-process backends interleave too.

    Backends that wait on a server release the GIL anyway; for a backend
    whose operations take microseconds the default 5 ms switch interval
    would run whole batches of one thread before the other starts.
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class ReloadGate:
    """Makes concurrent ``reload_if_needed`` calls overlap, on a loaded machine too.

    Each worker counts itself in just before its call; the reload that wins
    then waits (at most ``timeout`` seconds) until ``calls`` workers have
    begun before it runs. Left to the scheduler, a small reload could end
    before the other workers had started, and the run would prove nothing.
    ``ctx`` makes the primitives: :mod:`threading` for threads, a
    :mod:`multiprocessing` context for processes (the gate then travels to
    spawned workers as a ``Process`` argument).
    """

    def __init__(self, calls: int, ctx: Any = threading, timeout: float = 60) -> None:
        self.calls, self.timeout = calls, timeout
        self.began = ctx.Semaphore(0)
        self.opened = ctx.Event()

    def held(self, reload: Callable[..., Any]) -> Callable[..., Any]:
        """``reload`` (a cache's ``reload_from_storage``), made to wait for the other workers."""

        def gated(*args: Any, **kwargs: Any) -> Any:
            if not self.opened.is_set():  # a second reload (a bug) must not wait again
                self.opened.set()
                for _ in range(self.calls):
                    self.began.acquire(timeout=self.timeout)
            return reload(*args, **kwargs)

        return gated

    def reload_if_needed(self, cache: Any) -> tuple[bool, float, float]:
        """Count in and call; ``(reloaded, start, end)`` on the machine-wide monotonic clock.

        The cache's ``reload_from_storage`` must already be :meth:`held`.
        """
        start = time.monotonic()
        self.began.release()
        reloaded = cache.reload_if_needed() is not None
        return reloaded, start, time.monotonic()


def assert_one_reloaded_while_others_called(runs: list[tuple[bool, float, float]]) -> None:
    """Exactly one call reloaded, and every other call began before it ended (the gate's promise)."""
    winners = [end for reloaded, _, end in runs if reloaded]
    assert len(winners) == 1, f"{len(winners)} of {len(runs)} calls reloaded"
    late = [start for reloaded, start, _ in runs if not reloaded and start >= winners[0]]
    assert not late, f"{len(late)} of {len(runs)} calls began after the reload ended"
