"""Time the cache interface on a synthetic storage; print a table and JSON.

    python bench/run.py --backend memory
    python bench/run.py --backend sql --url sqlite:////tmp/bench.db
    python bench/run.py --backend sql --url postgresql://postgres@127.0.0.1:5432/test
    python bench/run.py --backend sql --url 'mysql://root@127.0.0.1:3306/test?charset=utf8mb4'

Defaults: 10,000 projects x 10 files plus one project of 5,000 files
(105,000 files). Every figure is measured in this run, side by side with the
raw driver writing the same rows; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
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

    changed = synthetic.change_one_percent(root)
    results["graceful_changed_files"] = changed
    results["graceful_reload_s"] = timed(lambda: cache.reload_from_storage(graceful=True))
    results["graceful_over_reload"] = results["graceful_reload_s"] / results["reload_s"]

    rng = random.Random(1)
    names = cache.distinct()
    sample_names = [rng.choice(names) for _ in range(200)]
    sample_files = [rng.choice(packages).filename for _ in range(500)]
    it_names, it_files = iter(sample_names * 2), iter(sample_files * 2)
    results["all_median_ms"] = median_ms(lambda: cache.all(next(it_names)), len(sample_names))
    results["fetch_median_ms"] = median_ms(lambda: cache.fetch(next(it_files)), len(sample_files))
    results["all_big_project_ms"] = median_ms(lambda: cache.all("big-project"), 5)
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

    cache.resource.meta.client.meta.events.register("provide-client-params.dynamodb", record)
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
    ("reload_s", "plain reload (list + atomic replace)", "{:.2f} s"),
    ("bulk_write_s", "bulk write replacing all rows (_replace_all)", "{:.2f} s"),
    ("raw_bulk_insert_s", "raw driver executemany, same rows", "{:.2f} s"),
    ("bulk_write_over_raw", "bulk write / raw", "{:.2f}x"),
    ("reload_over_raw", "whole reload / raw", "{:.2f}x"),
    ("graceful_reload_s", "graceful reload, 1% changed", "{:.2f} s"),
    ("graceful_over_reload", "graceful / plain reload", "{:.2f}x"),
    ("all_median_ms", "all(name), median", "{:.2f} ms"),
    ("fetch_median_ms", "fetch(filename), median", "{:.2f} ms"),
    ("all_big_project_ms", "all() of the 5,000-file project", "{:.1f} ms"),
    ("distinct_ms", "distinct()", "{:.1f} ms"),
    ("summary_ms", "summary()", "{:.1f} ms"),
    ("search_name_ms", "search by name", "{:.1f} ms"),
    ("search_summary_ms", "search by summary", "{:.1f} ms"),
    ("save_one_median_ms", "save() one by one, median", "{:.2f} ms"),
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
    args = parser.parse_args()
    results = run(args)
    print(f"\n{args.backend} {results['url'] or ''}")
    for key, label, fmt in ROWS:
        print(f"  {label:48} {fmt.format(results[key]):>12}")
    for key in ("round_trips", "requests"):
        if key in results:
            print(f"  {key.replace('_', ' ')}: " + ", ".join(f"{k} {v}" for k, v in results[key].items()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
