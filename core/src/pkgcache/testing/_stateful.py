"""The stateful comparison: random operations on a backend and on ``memory``.

Hypothesis draws sequences of saves, clears and reads from a small pool of
names, versions and file names (so that operations collide: replacing a
file, emptying a project, several files of one version, invalid versions)
and demands that every read gives identical answers on both caches.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from ..cache import Cache
from ..memory import MemoryCache
from ..package import Package

__all__ = ["packages", "run_stateful_comparison"]

NAMES = ["alpha", "Alpha_Two", "alpha.two", "béta", "pct%_x", "Z"]
VERSIONS = ["1.0", "1.0.0", "2.0rc1", "2.0", "1!0.5", "1.0.post1", "1.0+local", "weird", "0.9.dev1"]
SUFFIXES = [".tar.gz", "-py3-none-any.whl", "-cp311-cp311-win_amd64.whl"]
# NUL and other control characters are left out: PostgreSQL text cannot hold NUL
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)

times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(timezone.utc)
) | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda d: d.replace(tzinfo=timezone(timedelta(hours=5, minutes=30)))
)


@st.composite
def packages(draw: st.DrawFn) -> Package:
    """A package from a small colliding pool, with random summary, time and data."""
    name = draw(st.sampled_from(NAMES))
    version = draw(st.sampled_from(VERSIONS))
    filename = f"{name}-{version}{draw(st.sampled_from(SUFFIXES))}"
    data = draw(st.dictionaries(st.sampled_from(["requires_python", "uploader"]), TEXT, max_size=2))
    summary = draw(st.none() | TEXT)
    return Package(name, version, filename, draw(times), summary, **data)


def _snapshot(cache: Cache, terms: list[str]) -> dict[str, Any]:
    names = cache.distinct()
    return {
        "distinct": names,
        "all": {n: [p.to_dict() for p in cache.all(n)] for n in names},
        "summary": cache.summary(),
        "search": {
            (t, q): [p.to_dict() for p in cache.search({"name": [t], "summary": [t]}, q)]
            for t in terms
            for q in ("and", "or")
        },
    }


def run_stateful_comparison(cache: Cache, examples: int = 30, steps: int = 25) -> None:
    """Run the comparison against ``cache`` (emptied before every example)."""

    class Comparison(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            cache.clear_all()
            self.ref = MemoryCache(MemoryCache.Settings(), cache.storage, hooks=cache.hooks)
            self.terms = ["a", "ÉTA", "%", "_"]

        @rule(package=packages())
        def save(self, package: Package) -> None:
            cache.save(package)
            self.ref.save(package)

        @rule(batch=st.lists(packages(), max_size=6))
        def save_many(self, batch: list[Package]) -> None:
            cache.save_many(batch)
            self.ref.save_many(batch)

        @rule(package=packages())
        def clear_any(self, package: Package) -> None:
            cache.clear(package)
            self.ref.clear(package)

        @precondition(lambda self: bool(self.ref.distinct()))
        @rule(data=st.data())
        def clear_existing(self, data: st.DataObject) -> None:
            files = sorted(p.filename for n in self.ref.distinct() for p in self.ref.all(n))
            filename = data.draw(st.sampled_from(files))
            package = self.ref.fetch(filename)
            assert package is not None
            cache.clear(package)
            self.ref.clear(package)

        @rule()
        def clear_all(self) -> None:
            cache.clear_all()
            self.ref.clear_all()

        @rule(term=TEXT)
        def remember_term(self, term: str) -> None:
            self.terms.append(term)

        @rule(filename=st.sampled_from([f"{n}-{v}{s}" for n in NAMES[:2] for v in VERSIONS[:3] for s in SUFFIXES]))
        def fetch(self, filename: str) -> None:
            got, want = cache.fetch(filename), self.ref.fetch(filename)
            assert (got and got.to_dict()) == (want and want.to_dict())

        @invariant()
        def same_answers(self) -> None:
            assert _snapshot(cache, self.terms[-3:]) == _snapshot(self.ref, self.terms[-3:])

    run_state_machine_as_test(
        Comparison,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        ),
    )
