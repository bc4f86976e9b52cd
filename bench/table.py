"""Print the README's Markdown table from the JSON files of ``run.py --json``.

python bench/table.py sqlite.json postgresql.json mariadb.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from run import ROWS  # type: ignore[import-not-found]


def main() -> None:
    columns = [json.loads(Path(p).read_text()) for p in sys.argv[1:]]
    print("| | " + " | ".join(Path(p).stem for p in sys.argv[1:]) + " |")
    print("|---|" + "---:|" * len(columns))
    for key, label, fmt in ROWS:
        print(f"| {label} | " + " | ".join(fmt.format(c[key]) for c in columns) + " |")


if __name__ == "__main__":
    main()
