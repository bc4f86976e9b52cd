"""The documentation as a reader meets it: every page is reachable from the README, every
relative link and anchor lands, and the configuration reference is what the settings make."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINKED = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "core" / "README.md", *PAGES]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of the page's headings."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", page.read_text("utf-8"), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert len(PAGES) >= 10
    missing = [p.name for p in PAGES if f"(docs/{p.name})" not in readme]
    assert missing == [], f"pages the README does not link: {missing}"


@pytest.mark.parametrize("page", LINKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_land(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text("utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists() or (anchor and resolved.suffix == ".md" and anchor not in anchors(resolved)):
            broken.append(target)
    assert broken == [], f"{page.name}: links that land nowhere: {broken}"


def test_no_history_or_verdicts_in_user_pages() -> None:
    """User documentation says what is, not when it was measured or which issue asked for it."""
    found = []
    for page in [ROOT / "README.md", *PAGES]:
        text = page.read_text("utf-8")
        for pattern in (
            r"\b20\d\d-\d\d-\d\d\b",
            r"\b[Ii]ssue #?\d+",
            r"\bcommit [0-9a-f]{7,}\b",
            r"\bmet or (not|missed)\b",
        ):
            found += [f"{page.name}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert found == []


def test_the_configuration_reference_is_what_the_settings_make() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "config_reference.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
