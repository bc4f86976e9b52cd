"""pkgcache beside pypicloud on the same server, storage and samples, in one run.

    python bench/versus.py --backend sql --url sqlite:////tmp/bench/pkgcache.db \
        --ppc-url sqlite:////tmp/bench/pypicloud.db
    python bench/versus.py --backend sql --url postgresql://postgres@127.0.0.1:5432/test \
        --ppc-url postgresql://postgres@127.0.0.1:5432/bench_ppc
    python bench/versus.py --backend redis --url redis://127.0.0.1:6379/8 --ppc-url redis://127.0.0.1:6379/7

pypicloud runs in its own environment (``--ppc-python``, default
``/tmp/bench-ppc/bin/python``; see ``bench/pypicloud_side.py`` for how to
make it): it is never a dependency of pkgcache. Each system fills its cache
from the same synthetic storage with its own reload, then both answer the
same sampled ``all(name)`` and ``fetch(filename)`` calls. Nothing is
asserted; the last column is pkgcache's time over pypicloud's.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import storage as synthetic
from run import median_ms, timed

from pkgcache import load_cache

ROWS = [
    ("reload_s", "reload (list + write)", "{:.2f} s"),
    ("all_median_ms", "all(name), median", "{:.3f} ms"),
    ("fetch_median_ms", "fetch(filename), median", "{:.3f} ms"),
    ("all_big_project_ms", "all() of the big project", "{:.1f} ms"),
    ("summary_ms", "summary()", "{:.1f} ms"),
    ("search_name_ms", "search by name", "{:.1f} ms"),
    ("search_summary_ms", "search by summary", "{:.1f} ms"),
]


def samples(projects: int, files: int) -> dict[str, Any]:
    rng = random.Random(1)
    names = [f"project-{rng.randrange(projects):05d}" for _ in range(200)]
    filenames = []
    for _ in range(500):
        name, i = f"project-{rng.randrange(projects):05d}", rng.randrange(files)
        version = f"{i // 100}.{(i // 10) % 10}.{i % 10}"
        filenames.append(f"{name.replace('-', '_')}-{version}.tar.gz")
    return {
        "names": names,
        "filenames": filenames,
        "big": "big-project",
        "search": "project-0042",
        "search_summary": "ascii",  # pypicloud folds ASCII case only: an ASCII term finds the same files
    }


def pkgcache_side(args: argparse.Namespace, root: Path, sample: dict[str, Any]) -> dict[str, float]:
    config = {"pypi.db": args.backend, "storage.dir": str(root), "db.url": args.url}
    with load_cache(config, environ={}) as cache:
        cache.clear_all()
        results = {"reload_s": timed(cache.reload_from_storage)}
        it_names, it_files = iter(sample["names"]), iter(sample["filenames"])
        results["all_median_ms"] = median_ms(lambda: cache.all(next(it_names)), len(sample["names"]))
        results["fetch_median_ms"] = median_ms(lambda: cache.fetch(next(it_files)), len(sample["filenames"]))
        results["all_big_project_ms"] = median_ms(lambda: cache.all(sample["big"]), 5)
        results["summary_ms"] = median_ms(cache.summary, 5)
        results["search_name_ms"] = median_ms(lambda: cache.search({"name": [sample["search"]]}, "or"), 5)
        terms = {"summary": [sample["search_summary"]]}
        results["search_summary_ms"] = median_ms(lambda: cache.search(terms, "or"), 5)
        cache.clear_all()
    return results


def pypicloud_side(args: argparse.Namespace, root: Path, sample_file: Path) -> dict[str, float]:
    script = Path(__file__).with_name("pypicloud_side.py")
    command = [args.ppc_python, str(script), "--backend", args.backend, "--storage", str(root)]
    command += ["--set", f"db.url={args.ppc_url}", "--samples", str(sample_file)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sql", "redis"], required=True)
    parser.add_argument("--url", required=True, help="pkgcache's db.url")
    parser.add_argument("--ppc-url", required=True, help="pypicloud's db.url (another database or Redis index)")
    parser.add_argument("--ppc-python", default="/tmp/bench-ppc/bin/python")
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--big", type=int, default=5_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = synthetic.build(Path(__file__).parent / ".data", args.projects, args.files, args.big)
    sample = samples(args.projects, args.files)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(sample, handle)
    ours = pkgcache_side(args, root, sample)
    theirs = pypicloud_side(args, root, Path(handle.name))
    Path(handle.name).unlink()
    print(f"\n{args.backend}: pkgcache {args.url} | pypicloud {args.ppc_url}")
    print(f"  {'':28} {'pypicloud':>12} {'pkgcache':>12} {'ratio':>7}")
    for key, label, fmt in ROWS:
        print(
            f"  {label:28} {fmt.format(theirs[key]):>12} {fmt.format(ours[key]):>12} {ours[key] / theirs[key]:>6.2f}x"
        )
    if args.json:
        args.json.write_text(json.dumps({"pkgcache": ours, "pypicloud": theirs}, indent=2))


if __name__ == "__main__":
    main()
