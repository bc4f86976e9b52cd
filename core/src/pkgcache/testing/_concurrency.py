"""Kit tests: several threads and processes. One fills an empty cache, two writers keep
project rows right, and random sequences answer as the ``memory`` reference does."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from .. import Cache
from ._base import KitBase
from ._files import make_package
from ._overlap import ReloadGate, assert_one_reloaded_while_others_called, busy_switching, run_threads
from ._stateful import run_stateful_comparison
from ._writers import expected_rows, run_two_writers

__all__ = ["ConcurrencyContract"]


def _call_and_record(gate: ReloadGate, runs: list[tuple[bool, float, float]], cache: Cache) -> None:
    runs.append(gate.reload_if_needed(cache))


class ConcurrencyContract(KitBase):
    """``reload_if_needed`` from threads, concurrent writers, health, the stateful comparison."""

    def test_reload_if_needed_fills_once(self, cache: Cache, storage_dir: Path) -> None:
        self._fill_storage(cache, storage_dir)
        first = cache.reload_if_needed()
        assert first is not None and first.added == 4
        assert cache.reload_if_needed() is None

    def test_reload_if_needed_from_several_threads_fills_once(
        self, cache: Cache, storage_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Exactly one of four threads reloads, while the others' calls are under way
        (made so by a :class:`ReloadGate`, not left to the scheduler)."""
        self._fill_storage(cache, storage_dir)
        caches = [self.make_cache(storage_dir) if self.shared_state else cache for _ in range(4)]
        try:
            for _run in range(3):
                cache.clear_all()
                gate = ReloadGate(len(caches))
                for each in dict.fromkeys(caches):  # each distinct cache once
                    monkeypatch.setattr(each, "reload_from_storage", gate.held(each.reload_from_storage))
                runs: list[tuple[bool, float, float]] = []
                call = functools.partial(_call_and_record, gate, runs)
                with busy_switching():
                    run_threads(*(functools.partial(call, c) for c in caches))
                monkeypatch.undo()
                assert_one_reloaded_while_others_called(runs)
                assert len(cache.distinct()) == 2
        finally:
            for c in caches:
                if c is not cache:
                    c.close()

    # -- concurrent writers --------------------------------------------------------
    def test_concurrent_writers_keep_project_rows_right(self, cache: Cache, storage_dir: Path) -> None:
        """Two caches on one database write the same projects at once (save, save_many,
        clear, upload, delete); after every round, a project is in ``distinct()`` iff it
        has files, and its ``summary()`` row follows the rule computed from ``all()``.

        With ``shared_state = False`` the two writers share one cache object, so the
        backend is still held to it between threads."""
        other = self.make_cache(storage_dir) if self.shared_state else cache

        def check(round_number: int) -> None:
            names, rows = expected_rows(cache)
            distinct = cache.distinct()
            assert distinct == names, f"round {round_number}: distinct() {distinct} but projects with files {names}"
            summary = cache.summary()
            assert summary == rows, f"round {round_number}: summary() differs from the rule computed from all()"

        try:
            run_two_writers(cache, other, check, self.writer_overlaps)
        finally:
            if other is not cache:
                other.close()

    # -- health and lifetime ------------------------------------------------------
    def test_check_health_ok(self, cache: Cache) -> None:
        ok, message = cache.check_health()
        assert ok is True and isinstance(message, str)

    def test_usable_as_context_manager(self, storage_dir: Path) -> None:
        """``with`` gives the cache itself and closes it on the way out."""
        made = self.make_cache(storage_dir)
        with made as cache:
            assert cache is made
            cache.save(make_package("ctx", "1"))
            assert cache.fetch(make_package("ctx", "1").filename) is not None
            cache.clear_all()

    # -- the reference comparison ------------------------------------------------------
    def test_stateful_matches_memory(self, cache: Cache) -> None:
        """Random operation sequences give the same answers here and on ``memory``."""
        run_stateful_comparison(cache, examples=self.stateful_examples, steps=self.stateful_steps)
