"""The stateful comparison: random operations on a backend and on ``memory``.

Hypothesis draws sequences of saves, clears and reads from a small pool of
names, versions and file names (so that operations collide: replacing a
file, emptying a project, several files of one version, invalid versions)
and demands identical answers on both caches: ``distinct``, ``all`` and
``summary`` after every step, ``search`` as a step of its own whose terms
are mostly slices of the names and summaries stored, in any case (so that
they hit), and ``fetch``. Comparing every search after every step cost most
of the time and found nothing the drawn searches do not.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir, storage_directory
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from ..cache import Cache
from ..memory import MemoryCache
from ..package import Package

__all__ = ["packages", "run_stateful_comparison"]

NAMES = ["alpha", "Alpha_Two", "alpha.two", "béta", "pct%_x", "Z", "Straße"]
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


def _snapshot(cache: Cache) -> dict[str, Any]:
    names = cache.distinct()
    return {
        "distinct": names,
        "all": {n: [p.to_dict() for p in cache.all(n)] for n in names},
        "summary": cache.summary(),
    }


def _terms(texts: list[str]) -> st.SearchStrategy[str]:
    """Search terms: often a slice of a name or summary present, in some case, else any text."""

    def cut(text: str) -> st.SearchStrategy[str]:
        start = st.integers(0, len(text))
        piece = start.flatmap(lambda i: st.integers(i, len(text)).map(lambda j: text[i:j]))
        return piece.flatmap(lambda t: st.sampled_from([t, t.upper(), t.casefold()]))

    anything = st.sampled_from(["a", "ÉTA", "%", "_", "SS", "two"]) | TEXT
    return st.sampled_from(texts).flatmap(cut) | anything if texts else anything


def run_stateful_comparison(cache: Cache, examples: int = 15, steps: int = 50) -> None:
    """Run the comparison against ``cache`` (emptied before every example)."""

    class Comparison(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            cache.clear_all()
            self.ref = MemoryCache(MemoryCache.Settings(), cache.storage, hooks=cache.hooks)

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

        @rule(data=st.data(), query_type=st.sampled_from(["and", "or"]))
        def search(self, data: st.DataObject, query_type: str) -> None:
            texts = [t for n in self.ref.distinct() for p in self.ref.all(n) for t in (p.name, p.summary or "")]
            fields = data.draw(st.sampled_from([["name"], ["summary"], ["name", "summary"]]))
            criteria = {f: data.draw(st.lists(_terms(texts), min_size=1, max_size=3)) for f in fields}
            got = [p.to_dict() for p in cache.search(criteria, query_type)]
            assert got == [p.to_dict() for p in self.ref.search(criteria, query_type)], (criteria, query_type)

        @rule(filename=st.sampled_from([f"{n}-{v}{s}" for n in NAMES[:2] for v in VERSIONS[:3] for s in SUFFIXES]))
        def fetch(self, filename: str) -> None:
            got, want = cache.fetch(filename), self.ref.fetch(filename)
            assert (got and got.to_dict()) == (want and want.to_dict())

        @invariant()
        def same_answers(self) -> None:
            assert _snapshot(cache) == _snapshot(self.ref)

    # no example database (database=None), and hypothesis's other files (its cache of
    # the constants of the code under test) go to a temporary folder: the kit leaves no
    # .hypothesis/ behind in the author's project
    home = storage_directory(intent_to_write=False).home_directory
    with tempfile.TemporaryDirectory(prefix="pkgcache-kit-hypothesis-") as scratch:
        set_hypothesis_home_dir(scratch)
        try:
            run_state_machine_as_test(
                Comparison,
                settings=settings(
                    max_examples=examples,
                    stateful_step_count=steps,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                    database=None,
                    # no "explain" phase: it replays every step of a failure once more per
                    # step, minutes on a server; the shrunk steps already tell the story
                    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
                ),
            )
        finally:
            set_hypothesis_home_dir(home)
