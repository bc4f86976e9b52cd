"""The lease behind every backend's reload lock, on an in-process table of leases.

The backends' own tests hold their database primitives to the same rules;
these check the polling, renewing and releasing that :func:`hold_lease` does
for all of them.
"""

from __future__ import annotations

import threading
import time

import pytest

from pkgcache._lease import LeaseOps, hold_lease


class Table:
    """One lease row, with the atomic operations a database would give."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owner: str | None = None
        self.expires = 0.0
        self.acquires = self.renewals = 0

    def acquire(self, owner: str, ttl: float) -> bool:
        with self.lock:
            self.acquires += 1
            if self.owner is None or self.expires < time.monotonic():
                self.owner, self.expires = owner, time.monotonic() + ttl
                return True
            return False

    def renew(self, owner: str, ttl: float) -> bool:
        with self.lock:
            if self.owner != owner:
                return False
            self.renewals += 1
            self.expires = time.monotonic() + ttl
            return True

    def release(self, owner: str) -> None:
        with self.lock:
            if self.owner == owner:
                self.owner = None

    def ops(self) -> LeaseOps:
        return LeaseOps(self.acquire, self.renew, self.release)


def test_a_held_lease_keeps_others_out_and_is_released() -> None:
    table = Table()
    with hold_lease(table.ops(), timeout=1) as held:
        assert held
        with hold_lease(table.ops(), timeout=0.2) as other:
            assert not other
    assert table.owner is None
    with hold_lease(table.ops(), timeout=0) as again:
        assert again


def test_a_living_holder_renews_past_the_ttl() -> None:
    table, ttl = Table(), 1.0
    with hold_lease(table.ops(), timeout=1, ttl=ttl) as held:
        assert held
        end = time.monotonic() + 3 * ttl
        while time.monotonic() < end or table.renewals < 3:
            assert not table.acquire("intruder", ttl), "the lease expired while its holder lived"
            time.sleep(0.05)
    assert table.renewals >= 3


def test_a_dead_holders_lease_is_taken_over_after_its_ttl() -> None:
    table = Table()
    assert table.acquire("dead", 0.5)  # taken, and never renewed: its holder died
    with hold_lease(table.ops(), timeout=60) as held:
        assert held
        assert table.owner != "dead"
    assert table.acquires > 2, "the lease was free at once: the test did not exercise the take-over"


def test_released_on_error() -> None:
    table = Table()
    with pytest.raises(RuntimeError), hold_lease(table.ops(), timeout=1):
        raise RuntimeError("reload failed")
    assert table.owner is None


def test_a_lost_lease_stops_renewing(caplog: pytest.LogCaptureFixture) -> None:
    table, ttl = Table(), 0.3
    with hold_lease(table.ops(), timeout=1, ttl=ttl) as held:
        assert held
        with table.lock:
            table.owner = "thief"  # as if the lease had expired and been taken over
        deadline = time.monotonic() + 30
        while "taken over" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "taken over" in caplog.text
    assert table.owner == "thief", "release must not free someone else's lease"


def test_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError, match="ttl"), hold_lease(Table().ops(), timeout=1, ttl=0):
        pass
