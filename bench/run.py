"""Time the cache interface on a synthetic storage; print a table and JSON.

    python bench/run.py --backend memory
    python bench/run.py --backend sql --url sqlite:////tmp/bench.db
    python bench/run.py --backend sql --url postgresql://postgres@127.0.0.1:5432/test
    python bench/run.py --backend sql --url 'mysql://root@127.0.0.1:3306/test?charset=utf8mb4'

Defaults: 10,000 projects x 10 files plus one project of 5,000 files
(105,000 files). Every figure is measured in this run, side by side with its
reference: the raw driver writing the same rows, the listing floor (walking
the tree with ``os.scandir`` and reading every sidecar in plain Python), a
plain reload beside a graceful one; and the peak RSS of ``pkgcache reload``
in a fresh process at this size and at twice it (``--no-rss`` skips that).
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import raw
import storage as synthetic

from pkgcache import Cache, load_cache
from pkgcache.testing import make_package


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    return statistics.median(timed(fn) for _ in range(runs)) * 1000


def listing_floor(root: Path) -> int:
    """Walk the tree with ``os.scandir`` and read and parse every sidecar: what any
    listing of this storage must do, in plain Python. Returns the sidecars read."""
    read = 0
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.name.endswith(".meta"):
                    with open(entry.path, "rb") as handle:
                        json.loads(handle.read())
                    read += 1
    return read


def stat_floor(root: Path) -> int:
    """Walk the tree with ``os.scandir`` and ``lstat`` every file and sidecar: what any
    graceful reload of this storage must do to notice a change without reading the
    files (a token of size and mtime). Returns the files seen."""
    seen = 0
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    os.lstat(entry.path)
                    seen += 1
    return seen


def _timing(calls: Callable[[], Iterator[Any]], steps: dict[str, float], step: str) -> Callable[[], Iterator[Any]]:
    """``calls`` whose iterators add the time spent producing each item to ``steps[step]``."""

    def wrapped() -> Iterator[Any]:
        it = calls()
        while True:
            started = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                steps[step] += time.perf_counter() - started
                return
            steps[step] += time.perf_counter() - started
            yield item

    return wrapped


@contextmanager
def steps_timed(cache: Cache) -> Iterator[dict[str, float]]:
    """Time the storage's scan and the cache's tokens inside one reload (instance
    attributes shadow the methods for its duration)."""
    steps = {"scan": 0.0, "tokens": 0.0}
    cache.storage.scan = _timing(cache.storage.scan, steps, "scan")  # type: ignore[method-assign]
    cache._iter_tokens = _timing(cache._iter_tokens, steps, "tokens")  # type: ignore[method-assign]
    try:
        yield steps
    finally:
        del cache.storage.scan, cache._iter_tokens


#: run a command and print the peak RSS of its process tree (KiB on Linux)
_RSS_PROBE = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def peak_rss_mb(config: dict[str, Any], *command: str) -> float:
    """Peak RSS in MB of ``python -m pkgcache <command>`` in a fresh process, configured
    through the environment alone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PKGCACHE_", "PPC_"))}
    env.update({"PKGCACHE_" + key.upper().replace(".", "_"): str(value) for key, value in config.items()})
    probe = [sys.executable, "-c", _RSS_PROBE, sys.executable, "-m", "pkgcache", *command]
    out = subprocess.run(probe, env=env, check=True, capture_output=True, text=True).stdout
    return int(out.split()[-1]) / 1024


def reload_rss(config: dict[str, Any], root: Path, clear: Callable[[], None]) -> dict[str, float]:
    """Peak RSS, each in a fresh process, of a plain reload into an empty cache, of a
    plain reload over the same contents (a re-run), and of a graceful reload after 1%
    of the sidecars changed. Each size starts from an empty cache, so that the figures
    at n and 2n compare like with like (a 2n reload over a cache holding n would also
    carry the n-file snapshot)."""
    config = {**config, "storage.dir": str(root)}
    clear()
    plain = peak_rss_mb(config, "reload", "--plain", "--allow-empty")
    rerun = peak_rss_mb(config, "reload", "--plain")
    synthetic.change_one_percent(root)
    graceful = peak_rss_mb(config, "reload", "--graceful")
    return {"plain": plain, "rerun": rerun, "graceful": graceful}


def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(__file__).parent / ".data"
    started = time.perf_counter()
    root = synthetic.build(data_dir, args.projects, args.files, args.big)
    print(f"storage {root} ready in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    config: dict[str, Any] = {"pypi.db": args.backend, "storage.dir": str(root)}
    if args.url:
        config["db.url"] = args.url
    for pair in args.set:
        key, _, value = pair.partition("=")
        config[key] = value
    cache: Cache = load_cache(config, environ={})
    cache.clear_all()
    results: dict[str, Any] = {"backend": args.backend, "url": args.url and getattr(cache, "_address", args.url)}

    listed = timed(lambda: list(cache.storage.list()))
    packages = list(cache.storage.list())
    results["files"] = len(packages)
    results["list_storage_s"] = listed
    results["listing_floor_s"] = timed(lambda: listing_floor(root))
    results["reload_s"] = timed(cache.reload_from_storage)
    results["bulk_write_s"] = timed(lambda: cache._replace_all(packages))
    if args.backend == "sql":
        results["raw_bulk_insert_s"] = raw.sql_raw_insert(args.url, packages)
    elif args.backend == "redis":
        results["raw_bulk_insert_s"] = raw.redis_raw_insert(args.url, packages)
    elif args.backend == "dynamo":
        results["raw_bulk_insert_s"] = raw.dynamo_raw_insert(cache.settings, packages)
    else:
        results["raw_bulk_insert_s"] = raw.memory_raw_insert(packages)
    results["bulk_write_over_raw"] = results["bulk_write_s"] / results["raw_bulk_insert_s"]
    results["reload_over_raw"] = results["reload_s"] / results["raw_bulk_insert_s"]
    results["floor_plus_raw_s"] = results["listing_floor_s"] + results["raw_bulk_insert_s"]
    results["reload_over_floor_plus_raw"] = results["reload_s"] / results["floor_plus_raw_s"]

    cache.reload_from_storage()  # the cache holds the storage, with tokens where the backend keeps them
    results["reload_filled_s"] = timed(cache.reload_from_storage)
    changed = synthetic.change_one_percent(root)
    results["graceful_changed_files"] = changed
    with steps_timed(cache) as steps:  # where its time goes, measured inside it
        results["graceful_reload_s"] = timed(lambda: cache.reload_from_storage(graceful=True))
    results["graceful_over_reload"] = results["graceful_reload_s"] / results["reload_filled_s"]
    results["graceful_scan_s"], results["graceful_tokens_s"] = steps["scan"], steps["tokens"]
    results["graceful_rest_s"] = results["graceful_reload_s"] - steps["scan"] - steps["tokens"]
    results["stat_floor_s"] = timed(lambda: stat_floor(root))
    results["stat_floor_over_reload"] = results["stat_floor_s"] / results["reload_filled_s"]

    rng = random.Random(1)
    names = cache.distinct()
    sample_names = [rng.choice(names) for _ in range(200)]
    sample_files = [rng.choice(packages).filename for _ in range(500)]
    it_names, it_files = iter(sample_names * 2), iter(sample_files * 2)
    results["all_median_ms"] = median_ms(lambda: cache.all(next(it_names)), len(sample_names))
    results["fetch_median_ms"] = median_ms(lambda: cache.fetch(next(it_files)), len(sample_files))
    if args.big:  # with --big 0 there is no big project to read or re-save
        results["all_big_project_ms"] = median_ms(lambda: cache.all("big-project"), 5)
        big = cache.all("big-project")  # re-save every file of the big project (reload --keep, graceful)
        results["resave_big_project_s"] = timed(lambda: cache.save_many(big))
    results["distinct_ms"] = median_ms(cache.distinct, 5)
    results["summary_ms"] = median_ms(cache.summary, 5)
    results["search_name_ms"] = median_ms(lambda: cache.search({"name": ["project-0042"]}, "or"), 5)
    results["search_summary_ms"] = median_ms(lambda: cache.search({"summary": ["ünïcode"]}, "or"), 5)
    saves = [make_package(f"one-by-one-{i % 20}", f"1.{i}") for i in range(args.saves)]
    it_saves = iter(saves)
    results["save_one_median_ms"] = median_ms(lambda: cache.save(next(it_saves)), len(saves))
    if args.backend == "redis":
        results["round_trips"] = redis_round_trips(cache, packages[0])
    if args.backend == "dynamo":
        results["requests"] = dynamo_requests(cache, packages[0])
    if args.rss and args.backend != "memory":  # the memory backend keeps nothing between processes
        rss_config = {k: v for k, v in config.items() if k != "storage.dir"}
        results["rss_baseline_mb"] = peak_rss_mb(rss_config, "--version")
        results["rss_n"] = reload_rss(rss_config, root, cache.clear_all)
        double = synthetic.build(data_dir, args.projects * 2, args.files, args.big * 2)
        results["rss_2n_files"] = sum(1 for _ in double.rglob("*.meta"))
        results["rss_2n"] = reload_rss(rss_config, double, cache.clear_all)
        for kind in ("plain", "rerun", "graceful"):
            results[f"rss_{kind}_mb"] = results["rss_n"][kind]
            results[f"rss_{kind}_2n_mb"] = results["rss_2n"][kind]
            results[f"rss_{kind}_growth"] = results["rss_2n"][kind] / results["rss_n"][kind]
    cache.clear_all()
    cache.close()
    return results


def _read_calls(cache: Cache, package: Any) -> dict[str, Callable[[], Any]]:
    return {
        "fetch": lambda: cache.fetch(package.filename),
        "all": lambda: cache.all(package.name),
        "distinct": cache.distinct,
        "summary": cache.summary,
        "search": lambda: cache.search({"name": ["x"]}, "or"),
        "save": lambda: cache.save(package),
        "clear": lambda: cache.clear(package),
    }


def dynamo_requests(cache: Any, package: Any) -> dict[str, int]:
    """DynamoDB requests (API calls) per interface call."""
    count = [0]

    def record(**_: Any) -> None:
        count[0] += 1

    cache.client.meta.events.register("provide-client-params.dynamodb", record)
    made = {}
    for name, call in _read_calls(cache, package).items():
        before = count[0]
        call()
        made[name] = count[0] - before
    return made


def redis_round_trips(cache: Cache, package: Any) -> dict[str, int]:
    """Packed sends to the server per call: one send is one round trip (a pipeline included)."""
    from redis.connection import Connection

    real = Connection.send_packed_command
    count = [0]

    def counting(conn: Any, command: Any, check_health: bool = True) -> None:
        count[0] += 1
        real(conn, command, check_health)

    Connection.send_packed_command = counting  # type: ignore[method-assign]
    trips = {}
    try:
        for name, call in _read_calls(cache, package).items():
            before = count[0]
            call()
            trips[name] = count[0] - before
    finally:
        Connection.send_packed_command = real  # type: ignore[method-assign]
    return trips


ROWS = [
    ("files", "files in storage", "{:,}"),
    ("list_storage_s", "list the storage (read sidecars)", "{:.2f} s"),
    ("listing_floor_s", "listing floor: os.scandir + read every sidecar", "{:.2f} s"),
    ("reload_s", "plain reload (list + atomic replace)", "{:.2f} s"),
    ("bulk_write_s", "bulk write replacing all rows (_replace_all)", "{:.2f} s"),
    ("raw_bulk_insert_s", "raw driver executemany, same rows", "{:.2f} s"),
    ("bulk_write_over_raw", "bulk write / raw", "{:.2f}x"),
    ("reload_over_raw", "whole reload / raw", "{:.2f}x"),
    ("floor_plus_raw_s", "listing floor + raw bulk write", "{:.2f} s"),
    ("reload_over_floor_plus_raw", "plain reload / (floor + raw) [target <= 2]", "{:.2f}x"),
    ("reload_filled_s", "plain reload of a filled cache", "{:.2f} s"),
    ("graceful_reload_s", "graceful reload, 1% changed", "{:.2f} s"),
    ("graceful_over_reload", "graceful / plain reload [target <= 0.15]", "{:.2f}x"),
    ("graceful_scan_s", "  of which: the storage's scan (stat for tokens)", "{:.2f} s"),
    ("graceful_tokens_s", "  of which: the cache's tokens (_iter_tokens)", "{:.2f} s"),
    ("graceful_rest_s", "  of which: compare, read changed files, write", "{:.2f} s"),
    ("stat_floor_s", "stat floor: scandir + lstat of files, sidecars", "{:.2f} s"),
    ("stat_floor_over_reload", "stat floor / plain reload (graceful floor)", "{:.2f}x"),
    ("all_median_ms", "all(name), median", "{:.2f} ms"),
    ("fetch_median_ms", "fetch(filename), median", "{:.2f} ms"),
    ("all_big_project_ms", "all() of the 5,000-file project", "{:.1f} ms"),
    ("resave_big_project_s", "re-save every file of the big project", "{:.2f} s"),
    ("distinct_ms", "distinct()", "{:.1f} ms"),
    ("summary_ms", "summary()", "{:.1f} ms"),
    ("search_name_ms", "search by name", "{:.1f} ms"),
    ("search_summary_ms", "search by summary", "{:.1f} ms"),
    ("save_one_median_ms", "save() one by one, median", "{:.2f} ms"),
    ("rss_baseline_mb", "peak RSS: pkgcache --version", "{:.0f} MB"),
    ("rss_plain_mb", "peak RSS: plain, into empty cache, n [<= 100]", "{:.0f} MB"),
    ("rss_rerun_mb", "peak RSS: plain, re-run, n [<= 100]", "{:.0f} MB"),
    ("rss_graceful_mb", "peak RSS: graceful, n [<= 100]", "{:.0f} MB"),
    ("rss_2n_files", "files in the 2n storage", "{:,}"),
    ("rss_plain_2n_mb", "peak RSS: plain, into empty cache, 2n", "{:.0f} MB"),
    ("rss_rerun_2n_mb", "peak RSS: plain, re-run, 2n", "{:.0f} MB"),
    ("rss_graceful_2n_mb", "peak RSS: graceful, 2n", "{:.0f} MB"),
    ("rss_plain_growth", "plain RSS, empty cache, 2n / n [<= 1.10]", "{:.2f}x"),
    ("rss_rerun_growth", "plain RSS, re-run, 2n / n [<= 1.10]", "{:.2f}x"),
    ("rss_graceful_growth", "graceful RSS 2n / n [<= 1.10]", "{:.2f}x"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="sql")
    parser.add_argument("--url", help="db.url for the sql and redis backends")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="another config key")
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=10, help="files per project")
    parser.add_argument("--big", type=int, default=5_000, help="files of the one big project")
    parser.add_argument("--saves", type=int, default=300, help="single saves to time")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--no-rss", dest="rss", action="store_false", help="skip the peak-RSS subprocesses")
    args = parser.parse_args()
    results = run(args)
    print(f"\n{args.backend} {results['url'] or ''}")
    for key, label, fmt in ROWS:
        if key in results:
            print(f"  {label:48} {fmt.format(results[key]):>12}")
    for key in ("round_trips", "requests"):
        if key in results:
            print(f"  {key.replace('_', ' ')}: " + ", ".join(f"{k} {v}" for k, v in results[key].items()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
