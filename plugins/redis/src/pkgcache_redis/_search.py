"""Search over the projects' search rows: the loop that is most of what a Redis search costs."""

from __future__ import annotations

__all__ = ["search_rows"]


def search_rows(rows: dict[str, str], terms: dict[str, list[str]], query_type: str) -> list[tuple[str, str]]:
    """(project, filename) of each project's highest matching file, from its search rows
    (``summary NUL sort key NUL filename`` for each distinct summary, NUL-separated):
    :func:`pkgcache.rules.matches` on the project's name and each distinct summary,
    the first match in ``all()`` order. (Written out by hand, one term apart: this
    loop is most of what a search costs.)"""
    name_terms, summary_terms = terms["name"], terms["summary"]
    every = query_type == "and"
    single = summary_terms[0] if len(summary_terms) == 1 else None
    winners = []
    for name, raw in rows.items():
        folded = name.casefold()
        name_hits = [t in folded for t in name_terms]
        if every:
            if not all(name_hits):
                continue
            any_summary = not summary_terms  # every file matches
        else:
            any_summary = any(name_hits)
            if not any_summary and not summary_terms:
                continue
        best_key = best = ""
        parts = iter(raw.split("\0"))
        for summary, key, filename in zip(parts, parts, parts, strict=True):
            if not any_summary:
                text = summary.casefold()
                if single is not None:
                    if single not in text:
                        continue
                elif every:
                    if not all(t in text for t in summary_terms):
                        continue
                elif not any(t in text for t in summary_terms):
                    continue
            if not best or key > best_key or (key == best_key and filename < best):
                best_key, best = key, filename
        if best:
            winners.append((name, best))
    return winners
