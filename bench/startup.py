"""Start-up of the command line: CPU time of fresh interpreters, and who imports what.

Not a test: it prints. For each command (``python -m pkgcache ...`` on a
memory config, on ``examples/sqlite.ini``, ``list`` on that SQLite cache, and
bare ``python -c pass`` and ``import pkgcache`` for scale) it runs a fresh
interpreter ``--runs`` times and prints the least CPU time (user + system of
the child, ``getrusage(RUSAGE_CHILDREN)``: what other processes on the machine
do shows less in it than in wall time, and the least of several runs is the
least disturbed); the target is well under a quarter of a second. Then, from
``python -X importtime``, where each command's import time goes: the self time
of its modules (the least over the runs, module by module) summed by
top-level package, and whether SQLAlchemy, a database driver, redis or boto3
was imported at all.

    python bench/startup.py [--runs 9] [--top 12]

Bytecode: with ``PYTHONDONTWRITEBYTECODE`` set, an editable checkout compiles
pkgcache's own modules on every start; run ``python -m compileall -q core/src
plugins`` first to measure what an installed wheel does.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sqlalchemy", "psycopg", "pymysql", "redis", "boto3", "botocore")


def cpu_ms(cmd: list[str], runs: int) -> float:
    """Least user + system CPU of ``runs`` runs of ``cmd``, in ms."""
    best = float("inf")
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=ROOT)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best = min(best, used * 1000)
    return best


def import_times(args: list[str], runs: int) -> dict[str, float]:
    """Self time (ms) of each module ``python -X importtime ARGS`` imports, the least over the runs."""
    least: dict[str, float] = {}
    for _ in range(runs):
        err = subprocess.run(
            [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, check=True, cwd=ROOT
        ).stderr
        for line in err.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            own, _, name = line[len("import time:") :].split("|")
            module = name.strip()
            least[module] = min(least.get(module, float("inf")), int(own) / 1000)
    return least


def by_package(times: dict[str, float]) -> list[tuple[str, float, int]]:
    """(top-level package, its modules' summed self time, how many modules), largest first."""
    sums: dict[str, tuple[float, int]] = {}
    for module, ms in times.items():
        top = module.split(".")[0]
        total, count = sums.get(top, (0.0, 0))
        sums[top] = (total + ms, count + 1)
    return sorted(((p, t, c) for p, (t, c) in sums.items()), key=lambda row: -row[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--top", type=int, default=12)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        memory = Path(tmp) / "memory.ini"
        memory.write_text(f"[app:main]\npypi.db = memory\nstorage.dir = {tmp}\n")
        sqlite = Path(tmp) / "sqlite.ini"
        sqlite.write_text(
            f"[app:main]\npypi.db = sql\ndb.url = sqlite:///{tmp}/c.db\nstorage.dir = {ROOT / 'examples' / 'storage'}\n"
        )
        python = sys.executable
        subprocess.run([python, "-m", "pkgcache", "reload", "-c", str(sqlite)], check=True, capture_output=True)
        commands = {
            "python -c pass": ["-c", "pass"],
            "import pkgcache": ["-c", "import pkgcache"],
            "validate (memory config)": ["-m", "pkgcache", "validate", str(memory)],
            "validate examples/sqlite.ini": ["-m", "pkgcache", "validate", "examples/sqlite.ini"],
            "list (SQLite cache)": ["-m", "pkgcache", "list", "-c", str(sqlite)],
        }
        print(f"least CPU of {options.runs} runs (load average {os.getloadavg()[0]:.2f})")
        for label, args in commands.items():
            print(f"  {label:32} {cpu_ms([python, *args], options.runs):7.1f} ms")
        for label, args in list(commands.items())[2:]:
            times = import_times(args, options.runs)
            heavy = sorted({m.split(".")[0] for m in times} & set(HEAVY))
            print(
                f"\n{label}: {len(times)} modules, {sum(times.values()):.1f} ms of import (-X importtime, "
                f"self time by top-level package, least of the runs); heavy: {', '.join(heavy) or 'none'}"
            )
            for package, ms, count in by_package(times)[: options.top]:
                print(f"  {ms:7.1f}  {package} ({count} modules)")


if __name__ == "__main__":
    main()
