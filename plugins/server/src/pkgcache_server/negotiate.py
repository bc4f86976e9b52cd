"""Which format an index page is sent in: ``Accept`` with q-values, or ``?format=``.

PEP 691 offers three content types; pip asks for
``application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.1,
text/html;q=0.01`` and uv for the same with ``;q=0.2``. The highest q wins;
among equals the server's order (JSON, then the v1 HTML, then plain HTML)
decides, except that a request with no preference at all (no ``Accept``, or
only ``*/*``) gets ``text/html``, what a browser and the oldest clients read.
"""

from __future__ import annotations

__all__ = ["HTML", "JSON", "OFFERED", "V1_HTML", "choose"]

JSON = "application/vnd.pypi.simple.v1+json"
V1_HTML = "application/vnd.pypi.simple.v1+html"
HTML = "text/html"
#: in the server's order of preference
OFFERED = (JSON, V1_HTML, HTML)
#: PEP 691's "latest" aliases
_ALIASES = {
    "application/vnd.pypi.simple.latest+json": JSON,
    "application/vnd.pypi.simple.latest+html": V1_HTML,
}


def _ranges(accept: str) -> list[tuple[str, float]]:
    """``(media range, q)`` of each part of an ``Accept`` header; unreadable parts are dropped."""
    found = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if "/" not in media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
                q = min(max(q, 0.0), 1.0)
        found.append((_ALIASES.get(media.lower(), media.lower()), q))
    return found


def _quality(offer: str, ranges: list[tuple[str, float]]) -> float:
    """q of ``offer``: the most specific range that matches it decides."""
    kind = offer.split("/")[0]
    best, specificity = 0.0, -1
    for media, q in ranges:
        level = 2 if media == offer else 1 if media == f"{kind}/*" else 0 if media == "*/*" else -1
        if level > specificity:
            best, specificity = q, level
    return best if specificity >= 0 else 0.0


def choose(accept: str | None, format_param: str | None) -> str | None:
    """The content type to answer with, or None when nothing offered is acceptable (406).

    ``format_param`` (``?format=``) names a content type and overrides ``Accept``.
    """
    if format_param is not None:
        written = format_param.strip().lower().replace(" ", "+")  # an unencoded "+" arrives as a space
        wanted = _ALIASES.get(written, written)
        return wanted if wanted in OFFERED else None
    ranges = _ranges(accept or "")
    if not ranges or all(media == "*/*" for media, _ in ranges):
        return HTML if not ranges or ranges[0][1] > 0 else None
    scored = [(_quality(offer, ranges), -i, offer) for i, offer in enumerate(OFFERED)]
    q, _, offer = max(scored)
    return offer if q > 0 else None
