"""A synthetic storage in pypicloud's layout: P projects x F files plus one big project.

Files are empty (only metadata matters to a cache); each has a ``.meta``
sidecar with a Unicode summary, as pypicloud writes them. A storage is
built once per size and reused from ``bench/.data``.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

SUMMARIES = ["Ünïcode tools ✓", "A 🐍 helper", "データ処理", "plain ascii summary", "Ελληνικά", "100% literal_under"]


def build(root: Path, projects: int, files: int, big: int) -> Path:
    path = root / f"storage-{projects}x{files}+{big}"
    done = root / f"{path.name}.complete"  # beside the storage: pypicloud's listing reads every file inside
    (path / ".complete").unlink(missing_ok=True)  # where earlier versions of this script put it
    if done.exists():
        return path
    rng = random.Random(7)
    specs = [(f"project-{p:05d}", files) for p in range(projects)] + [("big-project", big)]
    for name, count in specs:
        for i in range(count):
            version = f"{i // 100}.{(i // 10) % 10}.{i % 10}"
            folder = path / name / version
            folder.mkdir(parents=True, exist_ok=True)
            filename = f"{name.replace('-', '_')}-{version}.tar.gz"
            (folder / filename).write_bytes(b"")
            meta = {"summary": f"{rng.choice(SUMMARIES)} {name}", "requires_python": ">=3.9", "uploader": "bench"}
            (folder / (filename + ".meta")).write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
            t = 1_700_000_000 + rng.randrange(10_000_000)
            os.utime(folder / filename, (t, t))
    done.write_text("")
    return path


def change_one_percent(path: Path) -> int:
    """Rewrite the summary of 1% of the files (every 100th); returns how many."""
    changed = 0
    for i, meta in enumerate(sorted(path.rglob("*.meta"))):
        if i % 100 == 0:
            data = json.loads(meta.read_text("utf-8"))
            data["summary"] = data["summary"] + " (changed)"
            meta.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
            changed += 1
    return changed
