"""pypicloud's half of ``bench/versus.py``: run with a Python that has pypicloud installed.

It imports only pypicloud and the standard library, so it runs in the
benchmark's own environment (pypicloud is never a dependency of pkgcache):

    python -m venv /tmp/bench-ppc && /tmp/bench-ppc/bin/pip install pypicloud==1.3.12 'sqlalchemy<2' boto3 \
        redis hiredis psycopg2-binary pymysql   # the one recipe, also in bench/all.sh
    /tmp/bench-ppc/bin/python bench/pypicloud_side.py --storage DIR --set db.url=... --samples samples.json

Fills pypicloud's cache from the storage with its own ``reload_from_storage``
and prints one JSON object of timings, measured on the same samples as
pkgcache's half.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

CACHES = {
    "sql": "pypicloud.cache.SQLCache",
    "redis": "pypicloud.cache.RedisCache",
}


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median_ms(fn: Callable[[], Any], args: list[Any]) -> float:
    return statistics.median(timed(lambda a=a: fn(a)) for a in args) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=sorted(CACHES), required=True)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--samples", required=True, help="JSON file: names, filenames, big, search")
    args = parser.parse_args()
    from pyramid.path import DottedNameResolver

    settings = {"pypi.storage": "file", "storage.dir": args.storage}
    settings.update(pair.split("=", 1) for pair in args.set)
    from pypicloud.util import EnvironSettings

    cls = DottedNameResolver(__name__).resolve(CACHES[args.backend])
    kwargs = cls.configure(EnvironSettings(settings, {}))
    cache = cls(**kwargs)
    samples = json.loads(open(args.samples).read())  # noqa: SIM115 - a small file read once

    def reload() -> None:
        cache.reload_from_storage()
        if hasattr(cache, "db") and hasattr(cache.db, "commit"):
            cache.db.commit()

    results: dict[str, float] = {"reload_s": timed(reload)}
    results["all_median_ms"] = median_ms(cache.all, samples["names"])
    results["fetch_median_ms"] = median_ms(cache.fetch, samples["filenames"])
    results["all_big_project_ms"] = median_ms(cache.all, [samples["big"]] * 5)
    results["summary_ms"] = median_ms(lambda _: cache.summary(), [None] * 5)
    results["search_name_ms"] = median_ms(lambda t: cache.search({"name": [t]}, "or"), [samples["search"]] * 5)
    terms = [samples["search_summary"]] * 5
    results["search_summary_ms"] = median_ms(lambda t: cache.search({"summary": [t]}, "or"), terms)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
