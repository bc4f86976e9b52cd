"""Kit tests: the queries. ``summary()`` rows follow the rule, ``search`` matches as
the design says, ``upload`` and ``delete`` keep storage and cache together."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .. import Cache
from ._base import KitBase
from ._files import T0, make_package

__all__ = ["QueryContract"]


class QueryContract(KitBase):
    """``summary``, ``search``, ``upload`` and ``delete``."""

    # -- summary -------------------------------------------------------------
    def test_summary_uses_highest_version_and_newest_time(self, cache: Cache) -> None:
        """summary: that of the highest version; last_modified: the newest file's."""
        cache.save_many(
            [
                make_package("s", "2.0", summary="two", minutes=1),
                make_package("s", "1.0", summary="one", minutes=50),  # newest, but older version
                make_package("s", "2.0rc1", summary="rc", minutes=2),
                make_package("t", "1.0", summary=None, minutes=3),
                make_package("t", "0.1", summary="old but not empty", minutes=1),
            ]
        )
        assert cache.summary() == [
            {"name": "s", "summary": "two", "last_modified": T0 + timedelta(minutes=50)},
            {"name": "t", "summary": None, "last_modified": T0 + timedelta(minutes=3)},
        ]

    def test_summary_stays_right_after_clear(self, cache: Cache) -> None:
        high, newest, low = (
            make_package("k", "3.0", summary="three", minutes=1),
            make_package("k", "2.0", summary="two", minutes=9),
            make_package("k", "1.0", summary="one", minutes=2),
        )
        cache.save_many([high, newest, low])
        cache.clear(high)
        assert cache.summary() == [{"name": "k", "summary": "two", "last_modified": T0 + timedelta(minutes=9)}]
        cache.clear(newest)
        assert cache.summary() == [{"name": "k", "summary": "one", "last_modified": T0 + timedelta(minutes=2)}]

    # -- search --------------------------------------------------------------
    def _search_fixture(self, cache: Cache) -> None:
        cache.save_many(
            [
                make_package("alpha-tools", "1.0", summary="Tools for ALPHA work"),
                make_package("alpha-tools", "2.0", summary="Rewritten tools"),
                make_package("beta", "1.0", summary="Ünïcode handling"),
                make_package("percent", "1.0", summary="100% literal_under*star\\slash"),
                make_package("percent-not", "1.0", summary="100 percent, literal under star slash"),
            ]
        )

    def test_search_is_case_insensitive_with_unicode_folding(self, cache: Cache) -> None:
        self._search_fixture(cache)
        assert [p.name for p in cache.search({"summary": ["ünïcode"]}, "or")] == ["beta"]
        assert [p.name for p in cache.search({"summary": ["ÜNÏCODE"]}, "or")] == ["beta"]
        assert [p.name for p in cache.search({"name": ["ALPHA"]}, "or")] == ["alpha-tools"]

    def test_search_matches_names_by_their_casefold(self, cache: Cache) -> None:
        """``STRASSE`` and ``ss`` find ``straße``: names are casefolded like the terms and summaries."""
        cache.save_many([make_package("straße", "1.0", summary=None), make_package("strand", "1.0", summary=None)])
        for term in ("STRASSE", "ss", "straße", "STRAẞE"):
            assert [p.name for p in cache.search({"name": [term]}, "or")] == ["straße"], term

    def test_search_takes_wildcard_characters_literally(self, cache: Cache) -> None:
        self._search_fixture(cache)
        for term in ("100%", "%", "literal_under", "_", "*star", "*", "\\slash", "\\"):
            assert [p.name for p in cache.search({"summary": [term]}, "or")] == ["percent"], term
        assert cache.search({"name": ["%"]}, "or") == []
        assert cache.search({"name": ["_"]}, "or") == []

    def test_search_returns_highest_matching_version_per_project(self, cache: Cache) -> None:
        self._search_fixture(cache)
        assert [(p.name, p.version) for p in cache.search({"summary": ["tools"]}, "or")] == [("alpha-tools", "2.0")]
        assert [(p.name, p.version) for p in cache.search({"summary": ["alpha"]}, "or")] == [("alpha-tools", "1.0")]

    def test_search_picks_the_first_file_of_the_highest_version(self, cache: Cache) -> None:
        """Among matching files of one highest version, the one first in ``all()`` order:
        the smallest filename."""
        cache.save_many(
            [
                make_package("tie", "1.0", filename="tie-1.0.tar.gz", summary="sdist"),
                make_package("tie", "1.0", filename="tie-1.0-py3-none-any.whl", summary="wheel"),
                make_package("tie", "0.9", filename="tie-0.9-a.whl", summary="older"),
            ]
        )
        found = cache.search({"name": ["tie"]}, "or")
        assert [p.filename for p in found] == [cache.all("tie")[0].filename] == ["tie-1.0-py3-none-any.whl"]

    def test_search_and_or(self, cache: Cache) -> None:
        self._search_fixture(cache)
        both = {"name": ["alpha"], "summary": ["handling"]}
        assert cache.search(both, "and") == []
        assert [p.name for p in cache.search(both, "or")] == ["alpha-tools", "beta"]
        assert [p.name for p in cache.search({"name": ["perc", "not"]}, "and")] == ["percent-not"]
        assert [p.name for p in cache.search({"name": ["beta"], "summary": ["handling"]}, "and")] == ["beta"]

    def test_search_rejects_bad_arguments(self, cache: Cache) -> None:
        with pytest.raises(ValueError, match="query_type"):
            cache.search({"name": ["a"]}, "xor")
        with pytest.raises(ValueError, match="criteria"):
            cache.search({"title": ["a"]}, "or")
