"""Index pages, rendered from what the cache holds: PEP 503 HTML and PEP 691 JSON
(api-version 1.1 of PEP 700), with PEP 658/714 core metadata for wheels.

Nothing here opens an archive or asks the storage: the file hash, size and
METADATA hash are recorded by uploads and reloads. File links are relative
(``../../packages/<filename>``) so that the pages are right behind any proxy
or prefix.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from pkgcache import Package

from .negotiate import JSON

__all__ = ["API_VERSION", "file_url", "project_list", "project_page"]

API_VERSION = "1.1"
_HEAD = (
    '<!DOCTYPE html>\n<html>\n<head>\n<meta name="pypi:repository-version" content="' + API_VERSION + '">\n'
    "<title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n"
)
_TAIL = "</body>\n</html>\n"


def file_url(package: Package, prefix: str = "../../packages/") -> str:
    """Where the file is downloaded, relative to a project page."""
    return prefix + quote(package.filename)


def _upload_time(package: Package) -> str:
    return package.last_modified.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _core_metadata(package: Package) -> str | None:
    found = package.data.get("core_metadata_sha256")
    return found if isinstance(found, str) and package.filename.endswith(".whl") else None


def _yanked(package: Package) -> str | bool:
    yanked = package.data.get("yanked")
    if isinstance(yanked, str) and yanked:
        return yanked
    return bool(yanked)


def project_list(names: Sequence[str], content_type: str) -> bytes:
    """``/simple/``: every project name."""
    if content_type == JSON:
        body: dict[str, Any] = {"meta": {"api-version": API_VERSION}, "projects": [{"name": n} for n in names]}
        return json.dumps(body, separators=(",", ":")).encode()
    links = "".join(f'<a href="{quote(n)}/">{escape(n)}</a><br>\n' for n in names)
    return (_HEAD.format(title="Simple index") + links + _TAIL).encode()


def project_page(name: str, packages: Sequence[Package], content_type: str) -> bytes:
    """``/simple/<name>/``: the project's files, highest version first."""
    if content_type == JSON:
        return _project_json(name, packages)
    lines = []
    for p in packages:
        href = file_url(p)
        sha256 = p.data.get("hash_sha256")
        if isinstance(sha256, str):
            href += f"#sha256={sha256}"
        attrs = [f'href="{escape(href)}"']
        requires = p.data.get("requires_python")
        if isinstance(requires, str):
            attrs.append(f'data-requires-python="{escape(requires)}"')
        core = _core_metadata(p)
        if core is not None:
            attrs.append(f'data-core-metadata="sha256={core}"')
            attrs.append(f'data-dist-info-metadata="sha256={core}"')
        yanked = _yanked(p)
        if yanked:
            attrs.append(f'data-yanked="{escape(yanked) if isinstance(yanked, str) else ""}"')
        lines.append(f"<a {' '.join(attrs)}>{escape(p.filename)}</a><br>\n")
    return (_HEAD.format(title=f"Links for {escape(name)}") + "".join(lines) + _TAIL).encode()


def _project_json(name: str, packages: Sequence[Package]) -> bytes:
    files = []
    versions: dict[str, None] = {}
    for p in packages:
        versions[p.version] = None
        sha256 = p.data.get("hash_sha256")
        core = _core_metadata(p)
        entry: dict[str, Any] = {
            "filename": p.filename,
            "url": file_url(p),
            "hashes": {"sha256": sha256} if isinstance(sha256, str) else {},
            "requires-python": p.data.get("requires_python"),
            # PEP 714's name only: pip 22.3 to 23.0 (still the pip of a fresh venv on
            # Python 3.11 in Debian 12) read the old "dist-info-metadata" as a string and
            # crash on the object PEP 691 gives it, so the old key is left out
            "core-metadata": {"sha256": core} if core else False,
            "yanked": _yanked(p),
            "upload-time": _upload_time(p),
        }
        size = p.data.get("size")
        if isinstance(size, int):
            entry["size"] = size
        files.append(entry)
    body = {"meta": {"api-version": API_VERSION}, "name": name, "versions": list(versions), "files": files}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
