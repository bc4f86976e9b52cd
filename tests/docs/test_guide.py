"""Every code block of docs/writing-a-backend.md runs: the guide's backend passes the kit."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GUIDE = Path(__file__).parents[2] / "docs" / "writing-a-backend.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks() -> list[tuple[str, str, str]]:
    found = []
    for language, body in BLOCK.findall(GUIDE.read_text("utf-8")):
        marker = re.match(r"# file: (\S+)\n", body)
        assert marker, f"a {language} block of the guide has no '# file:' line, so no test runs it:\n{body[:200]}"
        found.append((language, marker[1], body))
    return found


def test_every_block_is_tested(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("PKGCACHE_REQUIRE_SERVERS", None)
    (tmp_path / "storage").mkdir()
    for language, name, body in blocks():
        (tmp_path / name).write_text(body, "utf-8")
        if language == "toml":
            assert tomllib.loads(body)["project"]["entry-points"]["pkgcache.backends"]
    for language, name, _ in blocks():
        if language != "python" or name == "json_backend.py":
            continue
        command = (
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name]
            if name.startswith("test_")
            else [sys.executable, name]
        )
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{name}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
