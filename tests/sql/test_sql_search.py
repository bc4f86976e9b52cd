"""Search by name finds the matching projects among the project rows first; the answer is
the same whether few projects match (their files ranked alone) or many (every file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pkgcache.rules import check_search_args, search_packages
from pkgcache.testing import make_package

from .test_sql_backend import sql_cache


@pytest.mark.parametrize("query_type", ["and", "or"])
def test_name_search_over_few_and_many_matching_projects(tmp_path: Path, query_type: str) -> None:
    cache = sql_cache(f"sqlite:///{tmp_path / 'c.db'}", tmp_path)
    packages = [make_package(f"many-{i}", v, summary=f"tool {i % 3}") for i in range(600) for v in ("1.0", "2.0")]
    long_s_strasse = "\u017ftra\u00dfe"  # casefolds to "strasse"
    packages += [
        make_package("few-one", "1.0", summary="tool 1"),
        make_package(long_s_strasse, "3.0", summary="tool 2"),
    ]
    cache.save_many(packages)
    for criteria in (
        {"name": ["few"]},  # one project: its files ranked alone
        {"name": ["many"]},  # 600 projects: more than one IN list, every file
        {"name": ["many-1", "tool"]},
        {"name": ["many-1"], "summary": ["tool 1"]},
        {"name": ["strasse"]},  # casefolded as name_folded is
        {"name": ["absent"]},
    ):
        terms = check_search_args(criteria, query_type)
        expected = search_packages(packages, terms, query_type)
        assert cache.search(criteria, query_type) == expected, criteria
    cache.close()
