"""Print the README's Markdown tables from the JSON files of ``run.py --json`` and ``versus.py --json``.

python bench/table.py sqlite.json postgresql.json mariadb.json
python bench/table.py --versus versus-sqlite.json versus-postgresql.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from run import ROWS  # type: ignore[import-not-found]
from versus import ROWS as VERSUS_ROWS  # type: ignore[import-not-found]


def table(paths: list[str]) -> None:
    columns = [json.loads(Path(p).read_text()) for p in paths]
    print("| | " + " | ".join(Path(p).stem for p in paths) + " |")
    print("|---|" + "---:|" * len(columns))
    for key, label, fmt in ROWS:
        if any(key in c for c in columns):
            print(f"| {label} | " + " | ".join(fmt.format(c[key]) if key in c else "-" for c in columns) + " |")


def versus(paths: list[str]) -> None:
    """pypicloud, pkgcache and their ratio side by side, per backend."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    names = [Path(p).stem.removeprefix("versus-") for p in paths]
    print("| | " + " | ".join(f"pypicloud {n} | pkgcache {n} | ratio" for n in names) + " |")
    print("|---|" + "---:|---:|---:|" * len(runs))
    for key, label, fmt in VERSUS_ROWS:
        cells = []
        for run in runs:
            theirs, ours = run["pypicloud"].get(key), run["pkgcache"].get(key)
            if theirs is None or ours is None:
                cells += ["-", "-", "-"]
            else:
                cells += [fmt.format(theirs), fmt.format(ours), f"{ours / theirs:.2f}x"]
        print(f"| {label} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versus", action="store_true", help="the files are versus.py's: pypicloud beside pkgcache")
    parser.add_argument("files", nargs="+", help="JSON files written with --json")
    args = parser.parse_args()
    (versus if args.versus else table)(args.files)


if __name__ == "__main__":
    main()
