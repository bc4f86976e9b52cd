"""Build the six distributions as wheels and sdists into ``dist/``.

    python tools/build_dists.py            (needs: pip install build)

Versions move in step: the core's comes from ``core/src/pkgcache/_version.py``
and ``tests/test_packaging.py`` checks that every plugin and every pin agrees.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = ["core", "plugins/sql", "plugins/redis", "plugins/dynamo", "plugins/s3", "plugins/server"]


def main() -> None:
    out = ROOT / "dist"
    for folder in DISTRIBUTIONS:
        subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT / folder)], check=True)
    for built in sorted(out.iterdir()):
        print(built.name)


if __name__ == "__main__":
    main()
