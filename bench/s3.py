"""The S3 storage on moto's S3 server beside pypicloud's ``S3Storage.list()`` on the same bucket.

    python bench/s3.py                      # 5,000 objects (about 2 minutes on a busy 2-core machine)
    python bench/s3.py --objects 20000      # the issue's size (about 6 minutes there; 3.5 without pypicloud)
    python bench/s3.py --sweep 1,16,64      # and HEAD 1,000 objects again at each concurrency
    python bench/s3.py --ppc-python ''      # without pypicloud's side
    python bench/s3.py --objects 2000 --latency-ms 20   # requests delayed as over a network to S3

Starts moto's server on a free loopback port, fills one bucket in
pypicloud's layout (what pypicloud's upload writes: hashed keys, ASCII
metadata), then measures, counting requests with botocore's event hooks:

* pkgcache's first reload (SQLite backend, which stores each file's change
  token: the listing HEADs each object, ``storage.head_concurrency`` at once);
* pypicloud 1.3.12's ``S3Storage.list()`` (one HEAD after another), run by
  ``bench/s3_pypicloud.py`` in pypicloud's own environment (``--ppc-python``);
* pkgcache's graceful reload after 1% of the objects were rewritten (new
  metadata), by a new cache and storage on the same SQLite file, as a later
  process would run it: the list pages, one HEAD per changed object, and the
  core's re-check after writing (that makes a graceful reload safe against
  concurrent writers), which the storage answers from list pages when they
  are fewer than the files written;
* the same with nothing changed: the list pages alone.

pypicloud has no incremental reload: its reload is its full listing again.

Where the time goes: for the first reload and pypicloud's listing the bench
reads the CPU seconds of our process (``time.process_time``, all threads),
of pypicloud's process (its own ``process_time`` around ``list()``) and of
moto's server process (utime + stime from ``/proc/<pid>/stat``) before and
after, and prints them per HEAD beside the wall time per HEAD.
``--sweep 1,4,16,64`` HEADs the first ``--sweep-objects`` objects again at
each concurrency, to see whether the concurrency is the limit. moto's server
is one Python process (one core at most; werkzeug's dev server also closes
every connection, so each request is a new TCP connection and a new thread):
when the wall time per HEAD is about its CPU per HEAD, the server is the
bound and no client concurrency helps. The bench then prints the speedup the
same CPU figures imply against a server that is not CPU-bound (S3 serves
requests in parallel), for a few service times per request: pypicloud pays
its CPU plus the service time per object, one object after another; pkgcache
pays the larger of its own CPU per object (one process) and the service time
divided by the concurrency.

moto runs on the same (small) machine; ``--latency-ms`` puts a forwarder in
front of it (its own process) that delays every request by that much, as the
network to S3 does, and both sides are measured through it (the bucket is
filled directly).

Nothing is asserted; the figures and ratios are printed, and kept with ``--json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from itertools import islice
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from pkgcache import load_cache

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing-secret", "region_name": "us-east-1"}


async def _forward(delay: float, target: int, reader: Any, writer: Any) -> None:
    """Forward one connection; the client's bytes reach the server ``delay`` seconds late, in order."""
    import asyncio

    loop = asyncio.get_running_loop()
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def receive() -> None:
        while data := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, data))
        queue.put_nowait((0.0, b""))

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            await asyncio.sleep(max(0.0, due - loop.time()))
            up_writer.write(data)
            await up_writer.drain()
        up_writer.close()

    async def back() -> None:
        while data := await up_reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    await asyncio.gather(receive(), deliver(), back(), return_exceptions=True)


def serve_latency(listen: int, target: int, delay_ms: float) -> None:
    import asyncio

    async def run() -> None:
        server = await asyncio.start_server(
            lambda r, w: _forward(delay_ms / 1000, target, r, w), "127.0.0.1", listen, backlog=256
        )
        async with server:
            await server.serve_forever()

    asyncio.run(run())


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(400):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    process.terminate()
    raise SystemExit(f"nothing answers on port {port}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_moto(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, server)
    return server


class Clock:
    """Wall seconds, this process's CPU seconds (every thread) and the CPU seconds of
    other processes (moto's server, the latency forwarder) read from ``/proc``."""

    def __init__(self, **processes: subprocess.Popen[bytes] | None) -> None:
        self.pids = {name: p.pid for name, p in processes.items() if p is not None}
        self.tick = os.sysconf("SC_CLK_TCK")

    def _cpu(self, pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")  # no /proc: not Linux
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime + stime

    def now(self) -> dict[str, float]:
        out = {"wall": time.perf_counter(), "client_cpu": time.process_time()}
        out.update({f"{name}_cpu": self._cpu(pid) for name, pid in self.pids.items()})
        return out

    def since(self, start: dict[str, float]) -> dict[str, float]:
        return {k: round(v - start[k], 4) for k, v in self.now().items()}


def per_request(spent: dict[str, float], requests: int) -> dict[str, float]:
    """Milliseconds per request of each clock (``wall_ms``, ``client_cpu_ms``, ``server_cpu_ms``...)."""
    return {k + "_ms": round(1000 * v / max(1, requests), 3) for k, v in spent.items()}


class Counted:
    """Requests a client sends, by operation."""

    def __init__(self, client: Any) -> None:
        self.counts: Counter[str] = Counter()
        client.meta.events.register("before-send.s3.*", self._sent)

    def _sent(self, **kwargs: Any) -> None:
        self.counts[kwargs["event_name"].rsplit(".", 1)[1]] += 1

    def take(self) -> dict[str, int]:
        out = dict(self.counts)
        self.counts.clear()
        return out


def put_like_pypicloud(client: Any, bucket: str, i: int, summary: str) -> str:
    name = f"project-{i // 10:05d}"
    filename = f"{name.replace('-', '_')}-1.{i % 10}.tar.gz"
    key = hashlib.md5(filename.encode()).hexdigest()[:4] + f"/{name}/{filename}"
    metadata = {"name": name, "version": f"1.{i % 10}", "summary": summary, "requires-python": ">=3.8"}
    response = client.put_object(Bucket=bucket, Key=key, Body=b"", Metadata=metadata)
    return str(response["ResponseMetadata"]["HTTPHeaders"]["date"])


def fill(client: Any, bucket: str, indexes: range | list[int], summary: str) -> None:
    """Write the objects, then wait until the server's clock is past the newest (S3 times have whole seconds)."""
    with ThreadPoolExecutor(16) as pool:
        dates = list(pool.map(lambda i: put_like_pypicloud(client, bucket, i, summary), indexes))
    newest = max(parsedate_to_datetime(d) for d in dates)
    while parsedate_to_datetime(client.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPHeaders"]["date"]) <= newest:
        time.sleep(0.1)


def pypicloud_side(python: str, endpoint: str, bucket: str, clock: Clock) -> dict[str, Any] | str:
    if not python:
        return "not run (--ppc-python '')"
    if not Path(python).exists():
        return f"not run: {python} does not exist (see bench/s3_pypicloud.py for how to make it)"
    script = Path(__file__).with_name("s3_pypicloud.py")
    start = clock.now()
    done = subprocess.run(
        [python, str(script), "--endpoint", endpoint, "--bucket", bucket], capture_output=True, text=True, check=False
    )
    spent = clock.since(start)
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    result = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    spent["client_cpu"] = result.pop("cpu")  # pypicloud's process during list(), not ours
    spent["wall"] = result["seconds"]  # list() alone, without the start-up of its interpreter
    result["profile"] = per_request(spent, result["requests"].get("HeadObject", 1))
    return result


def sweep(config: dict[str, str], levels: list[int], objects: int, clock: Clock) -> list[dict[str, Any]]:
    """HEAD the first ``objects`` objects at each concurrency: is the concurrency the limit?"""
    rows = []
    for level in levels:
        with load_cache({**config, "storage.head_concurrency": str(level)}, environ={}) as cache:
            storage: Any = cache.storage
            keys = [entry.path for entry in islice(storage.scan(), objects)]
            start = clock.now()
            heads = sum(1 for _ in storage._read_all(keys))
            rows.append({"head_concurrency": level, "heads": heads, **per_request(clock.since(start), heads)})
            print(f"sweep: {rows[-1]}", file=sys.stderr)
    return rows


def graceful(config: dict[str, str], changed: int) -> dict[str, Any]:
    """A graceful reload by a new cache and storage (nothing in memory from the first reload)."""
    with load_cache(config, environ={}) as cache:
        counted = Counted(cache.storage.client)  # type: ignore[attr-defined]
        started = time.perf_counter()
        result = cache.reload_from_storage(graceful=True)
        return {
            "seconds": time.perf_counter() - started,
            "changed": changed,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "requests": counted.take(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=5_000)
    parser.add_argument("--head-concurrency", type=int, default=16)
    parser.add_argument("--ppc-python", default="/tmp/bench-ppc/bin/python")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sweep", default="", help="head concurrencies to try after the reloads, e.g. 1,4,16,64")
    parser.add_argument("--sweep-objects", type=int, default=1000)
    parser.add_argument("--serve-latency", nargs=3, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_latency:
        serve_latency(int(args.serve_latency[0]), int(args.serve_latency[1]), args.serve_latency[2])
        return

    port = free_port()
    server = start_moto(port)
    endpoint = direct = f"http://127.0.0.1:{port}"
    proxy = None
    if args.latency_ms:
        proxy_port = free_port()
        proxy = subprocess.Popen(
            [sys.executable, __file__, "--serve-latency", str(proxy_port), str(port), str(args.latency_ms)]
        )
        wait_for_port(proxy_port, proxy)
        endpoint = f"http://127.0.0.1:{proxy_port}"
    cache_dir = tempfile.mkdtemp(prefix="bench-s3-")
    try:
        client = boto3.client("s3", endpoint_url=direct, config=Config(max_pool_connections=16), **CREDENTIALS)
        bucket = "bench"
        client.create_bucket(Bucket=bucket)
        started = time.perf_counter()
        fill(client, bucket, range(args.objects), "A project for the benchmark")
        print(f"{args.objects:,} objects written in {time.perf_counter() - started:.1f} s", file=sys.stderr)

        config = {
            "pypi.db": "sql",
            "db.url": f"sqlite:///{cache_dir}/cache.db",
            "pypi.storage": "s3",
            "storage.bucket": bucket,
            "storage.endpoint_url": endpoint,
            "storage.head_concurrency": str(args.head_concurrency),
            **{f"storage.{k}": v for k, v in CREDENTIALS.items()},
        }
        results: dict[str, Any] = {
            "objects": args.objects,
            "head_concurrency": args.head_concurrency,
            "latency_ms": args.latency_ms,
        }
        clock = Clock(server=server, proxy=proxy)
        with load_cache(config, environ={}) as cache:
            counted = Counted(cache.storage.client)  # type: ignore[attr-defined]
            start = clock.now()
            first = cache.reload_from_storage()
            spent = clock.since(start)
            requests = counted.take()
            results["first_reload"] = {
                "seconds": spent["wall"],
                "files": first.added,
                "requests": requests,
                "profile": per_request(spent, requests.get("HeadObject", 1)),
            }
            print(f"pkgcache first reload: {results['first_reload']}", file=sys.stderr)

        results["pypicloud_list"] = pypicloud_side(args.ppc_python, endpoint, bucket, clock)
        print(f"pypicloud list(): {results['pypicloud_list']}", file=sys.stderr)

        changed = list(range(0, args.objects, 100))  # 1%
        fill(client, bucket, changed, "A changed summary")
        results["graceful_reload_1pct"] = graceful(config, changed=len(changed))
        print(f"pkgcache graceful reload: {results['graceful_reload_1pct']}", file=sys.stderr)
        results["graceful_reload_unchanged"] = graceful(config, changed=0)
        print(f"pkgcache graceful reload, unchanged: {results['graceful_reload_unchanged']}", file=sys.stderr)
        if args.sweep:
            levels = [int(level) for level in args.sweep.split(",")]
            results["sweep"] = sweep(config, levels, min(args.sweep_objects, args.objects), clock)
        results["load_average"] = os.getloadavg()
        client.close()
    finally:
        for process in (proxy, server):
            if process is not None:
                process.terminate()
                process.wait(10)
        shutil.rmtree(cache_dir, ignore_errors=True)

    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def report(results: dict[str, Any]) -> None:
    first, graceful, ppc = results["first_reload"], results["graceful_reload_1pct"], results["pypicloud_list"]
    rows = [
        ("pkgcache first reload", first),
        (f"pkgcache graceful reload, 1% ({graceful['changed']:,}) changed", graceful),
        ("pkgcache graceful reload, nothing changed", results["graceful_reload_unchanged"]),
    ]
    if isinstance(ppc, dict):
        rows.append(("pypicloud 1.3.12 S3Storage.list()", ppc))
    where = f"moto + {results['latency_ms']:g} ms" if results["latency_ms"] else "moto"
    print(f"| {results['objects']:,} objects on {where} | seconds | requests | vs pypicloud's listing |")
    print("|---|---|---|---|")
    for label, row in rows:
        total = sum(row["requests"].values())
        detail = ", ".join(f"{v:,} {k}" for k, v in sorted(row["requests"].items()))
        versus = ""
        if isinstance(ppc, dict) and row is not ppc:
            ppc_total = sum(ppc["requests"].values())
            versus = f"{ppc['seconds'] / row['seconds']:.1f}x faster, {ppc_total / total:.0f}x fewer requests"
        print(f"| {label} | {row['seconds']:.2f} | {total:,} ({detail}) | {versus} |")
    if not isinstance(ppc, dict):
        print(f"pypicloud: {ppc}")
    profile(results)


def profile(results: dict[str, Any]) -> None:
    """Where a first reload's time goes, per HEAD, and what that implies off this machine."""
    ours, ppc = results["first_reload"]["profile"], results["pypicloud_list"]
    forwarder = "proxy_cpu_ms" in ours
    print()
    print("| per HEAD, ms | wall | client CPU | moto CPU |" + (" forwarder CPU |" if forwarder else ""))
    print("|---|---:|---:|---:|" + ("---:|" if forwarder else ""))
    rows = [(f"pkgcache first reload ({results['head_concurrency']} at once)", ours)]
    if isinstance(ppc, dict):
        rows.append(("pypicloud 1.3.12 list() (one at a time)", ppc["profile"]))
    rows += [(f"pkgcache HEADs alone, {r['head_concurrency']} at once", r) for r in results.get("sweep", [])]
    for label, row in rows:
        extra = f" {row['proxy_cpu_ms']:.2f} |" if forwarder else ""
        print(f"| {label} | {row['wall_ms']:.2f} | {row['client_cpu_ms']:.2f} | {row['server_cpu_ms']:.2f} |{extra}")
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in results['load_average'])}")
    if not isinstance(ppc, dict):
        return
    c = results["head_concurrency"]
    mine, theirs, server = ours["client_cpu_ms"], ppc["profile"]["client_cpu_ms"], ours["server_cpu_ms"]
    print()
    print(
        f"moto's server is one process: {server:.2f} ms of its CPU per HEAD caps it at {1000 / server:.0f} HEADs a "
        f"second; with our {mine:.2f} ms per HEAD on a 2-core machine, {server + mine:.2f} ms of CPU per HEAD "
        f"against {ours['wall_ms']:.2f} ms of wall time per HEAD."
    )
    print(
        "Implied against a server that is not CPU-bound (requests served in parallel, as S3 does), with service "
        f"time S per request: pypicloud ~ {theirs:.2f} ms of its CPU + S per object, one object after another; "
        f"pkgcache ~ max({mine:.2f} ms of its CPU, S / {c}) per object."
    )
    print("| service time S per request | pypicloud ms/object | pkgcache ms/object | implied speedup |")
    print("|---|---:|---:|---:|")
    for label, service in [
        (f"moto's CPU per HEAD ({server:.2f} ms)", server),
        ("5 ms", 5.0),
        ("20 ms (S3 from the same region)", 20.0),
        ("50 ms", 50.0),
    ]:
        theirs_per, ours_per = theirs + service, max(mine, service / c)
        print(f"| {label} | {theirs_per:.2f} | {ours_per:.2f} | {theirs_per / ours_per:.1f}x |")


if __name__ == "__main__":
    main()
