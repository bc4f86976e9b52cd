"""The rules every backend shares: ``all()`` order, summary rows, search matching.

A backend that cannot do one of these in its database calls the function
here, so that each backend's module reads as its database alone and every
backend answers alike. (Also importable from :mod:`pkgcache.cache`, where they
lived first.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from .package import Package

__all__ = [
    "QUERY_TYPES",
    "best_and_newest",
    "check_search_args",
    "comes_first",
    "matches",
    "search_packages",
    "sort_packages",
    "summarize",
]
QUERY_TYPES = ("and", "or")


def sort_packages(packages: Iterable[Package]) -> list[Package]:
    """Highest version first, ties by filename: the order ``all()`` returns."""
    by_filename = sorted(packages, key=lambda p: p.filename)
    return sorted(by_filename, key=lambda p: p.sort_key, reverse=True)


def best_and_newest(packages: Iterable[Package]) -> tuple[Package, datetime]:
    """What a project's summary row holds, in one pass over its files (any order):
    the file that stands first in ``all()`` order, and the newest time."""
    it = iter(packages)
    best = next(it)
    newest = best.last_modified
    for p in it:
        if comes_first(p, best):
            best = p
        if p.last_modified > newest:
            newest = p.last_modified
    return best, newest


def summarize(name: str, packages: Iterable[Package]) -> dict[str, Any]:
    """The summary row of a project from its files (a non-empty iterable)."""
    best, newest = best_and_newest(packages)
    return {"name": name, "summary": best.summary, "last_modified": newest}


def check_search_args(criteria: Mapping[str, Any], query_type: str) -> dict[str, list[str]]:
    """Validate ``search`` arguments; return the terms casefolded by field."""
    if query_type not in QUERY_TYPES:
        raise ValueError(f"search query_type must be 'and' or 'or', not {query_type!r}")
    unknown = set(criteria) - {"name", "summary"}
    if unknown:
        raise ValueError(f"search criteria keys must be 'name' and/or 'summary', not {sorted(unknown)!r}")
    terms: dict[str, list[str]] = {}
    for field in ("name", "summary"):
        value = criteria.get(field) or []
        if isinstance(value, str):
            value = [value]
        terms[field] = [str(t).casefold() for t in value]
    return terms


def matches(package: Package, terms: dict[str, list[str]], query_type: str) -> bool:
    """Case-insensitive (casefolded) substring match; every character literal."""
    name = package.name.casefold()
    summary = (package.summary or "").casefold()
    hits = [t in name for t in terms["name"]] + [t in summary for t in terms["summary"]]
    return all(hits) if query_type == "and" else any(hits)


def comes_first(a: Package, b: Package) -> bool:
    """True when ``a`` stands before ``b`` in ``all()`` order (no version parsing)."""
    return a.sort_key > b.sort_key or (a.sort_key == b.sort_key and a.filename < b.filename)


def search_packages(packages: Iterable[Package], terms: dict[str, list[str]], query_type: str) -> list[Package]:
    """Per project, its highest matching package, sorted by name, in one pass."""
    best: dict[str, Package] = {}
    for package in packages:
        if matches(package, terms, query_type):
            found = best.get(package.name)
            if found is None or comes_first(package, found):
                best[package.name] = package
    return [best[name] for name in sorted(best)]
