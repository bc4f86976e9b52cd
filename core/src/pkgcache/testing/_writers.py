"""Two writers on the same projects at once: the per-project rows must stay right.

Several web workers and a reload job write one shared cache. A backend that
recomputes a project's row (its place in ``distinct()``, its ``summary()``
row) from a snapshot that misses the other writer's uncommitted file ends
up with a project that has files but is not listed, or with a stale
summary. :func:`run_two_writers` makes two caches collide on two projects
with every kind of write, and proves that their operations overlapped.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ..cache import Cache
from ..package import Package, normalize_name
from ._files import T0
from ._overlap import Timeline, busy_switching, run_threads

__all__ = ["PROJECTS", "expected_rows", "run_two_writers"]

#: spellings of two projects: "W_One" and "w-one" are one project (PEP 503); few
#: projects and versions, so that the writers keep emptying and refilling them
SPELLINGS = ["w-one", "W_One", "w.two"]
PROJECTS = sorted({normalize_name(s) for s in SPELLINGS})
VERSIONS = ["1.0", "2.0rc1", "2.0", "not-a-version"]
SUFFIXES = [".tar.gz", "-py3-none-any.whl"]

#: operations per worker in one round; the bound on rounds
OPERATIONS = 40
MAX_ROUNDS = 200


def _package(rng: random.Random, tag: str) -> Package:
    spelling, version = rng.choice(SPELLINGS), rng.choice(VERSIONS)
    return Package(
        spelling,
        version,
        f"{spelling}-{version}{rng.choice(SUFFIXES)}",
        T0 + timedelta(seconds=rng.randrange(100_000), microseconds=rng.randrange(1_000_000)),
        rng.choice([None, f"{spelling} {version} by {tag}"]),
    )


class _Writer:
    """One worker: random ``save``, ``save_many``, ``clear``, ``upload``, ``delete``."""

    def __init__(self, cache: Cache, number: int, timeline: Timeline) -> None:
        self.cache, self.number, self.timeline = cache, number, timeline
        self.rng = random.Random(number)
        self.uploaded: list[Package] = []  # its own uploads: two storages never race on one file
        self.count = 0

    def _upload(self) -> None:
        spelling, version = self.rng.choice(SPELLINGS), self.rng.choice(VERSIONS)
        self.count += 1
        package = self.cache.upload(
            f"{spelling}-{version}-up{self.number}-{self.count}.tar.gz",
            b"content",
            name=spelling,
            version=version,
            summary=f"uploaded by writer {self.number}",
            last_modified=T0 + timedelta(seconds=self.rng.randrange(100_000)),
        )
        self.uploaded.append(package)

    def _delete(self) -> None:
        if self.uploaded:
            self.cache.delete(self.uploaded.pop(self.rng.randrange(len(self.uploaded))))
        else:
            self.cache.clear(_package(self.rng, "nobody"))

    def step(self) -> None:
        tag = f"writer {self.number}"
        operations: list[Callable[[], None]] = [
            lambda: self.cache.save(_package(self.rng, tag)),
            lambda: self.cache.save_many([_package(self.rng, tag) for _ in range(self.rng.randint(1, 4))]),
            lambda: self.cache.clear(_package(self.rng, tag)),
            lambda: self.cache.clear(_package(self.rng, tag)),
            self._upload,
            self._delete,
        ]
        operation = self.rng.choice(operations)
        with self.timeline.span(self.number):
            operation()

    def round(self) -> None:
        for _ in range(OPERATIONS):
            self.step()


def expected_rows(cache: Cache) -> tuple[list[str], list[dict[str, Any]]]:
    """``distinct()`` and ``summary()`` as the rule computes them from ``all()``:
    the projects that have files; the summary of the first file in ``all()``
    order and the newest ``last_modified`` among them."""
    names, rows = [], []
    for name in PROJECTS:
        files = cache.all(name)
        if files:
            names.append(name)
            newest = max(p.last_modified for p in files)
            rows.append({"name": name, "summary": files[0].summary, "last_modified": newest})
    return names, rows


def run_two_writers(first: Cache, second: Cache, check: Callable[[int], None], min_overlaps: int) -> int:
    """Let two writers collide round after round; call ``check(round)`` after each.

    Runs until the writers' operations overlapped ``min_overlaps`` times (at
    least two rounds, at most :data:`MAX_ROUNDS`); returns the overlaps. A
    race between two transactions shows in a few of every thousand overlaps,
    so the count is what gives the test its power.
    """
    timeline = Timeline(2)
    writers = [_Writer(first, 0, timeline), _Writer(second, 1, timeline)]
    overlaps, rounds = 0, 0
    with busy_switching():
        while rounds < MAX_ROUNDS and (rounds < 2 or overlaps < min_overlaps):
            run_threads(writers[0].round, writers[1].round)
            rounds += 1
            overlaps = timeline.overlaps(0, 1)
            check(rounds)
    assert overlaps >= min_overlaps, (
        f"the two writers' operations overlapped only {overlaps} times in {rounds} rounds of "
        f"{OPERATIONS} operations each (at least {min_overlaps} wanted): they ran one after "
        "the other, so this test proved nothing about concurrent writers"
    )
    return overlaps
