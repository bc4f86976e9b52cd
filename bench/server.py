"""The index under load: ``pkgcache serve`` beside pypiserver and pypicloud, same machine, same files, one run.

    python bench/server.py                       # 10,000 projects x 10 files + one of 5,000 (105,000 files)
    python bench/server.py --projects 1000 --seconds 5     # a quick look

Needs Debian's ``wrk`` (``apt-get install wrk``). pypiserver 2.4.2 and pypicloud 1.3.12
run from virtual environments the benchmark builds in ``bench/.data/venvs``
(never dependencies of the project); ``--peers`` picks them (none: ``--peers``
alone). Traffic goes to
127.0.0.1 only; every measurement is bounded by ``--seconds``.

Measured, with 64 keep-alive connections (``wrk -t2 -c64 --latency``):
a random project page (200), the same with ``If-None-Match`` (304),
``/simple/``, the 5,000-file project page, and one download; requests/s,
p50 and p99, the non-2xx/3xx count, and the server's RSS after the run.
Before the load, each page is also timed alone (the median of three
requests sent one at a time): a server that takes seconds per request
answers nothing within wrk's 10 s timeout at 64 connections, and the time
alone says why. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
JSON = "application/vnd.pypi.simple.v1+json"
PIP_ACCEPT = f"{JSON}, application/vnd.pypi.simple.v1+html;q=0.1, text/html;q=0.01"
BIG = "bigproject"


def storage(projects: int, big: int) -> tuple[Path, Path]:
    """pypicloud's layout with sidecars (``<dir>/<name>/<version>/<file>``), and the same
    files hard-linked into one flat folder for pypiserver; made once, reused."""
    root = DATA / f"server-{projects}x10+{big}"
    layout, flat = root / "layout", root / "flat"
    if (root / "done").exists():
        return layout, flat
    shutil.rmtree(root, ignore_errors=True)
    flat.mkdir(parents=True)
    files = [(f"proj{i}", f"1.{v}") for i in range(projects) for v in range(10)] + [(BIG, f"0.{v}") for v in range(big)]
    for name, version in files:
        folder = layout / name / version
        folder.mkdir(parents=True, exist_ok=True)
        filename = f"{name}-{version}.tar.gz"
        body = f"{name} {version}\n".encode() * 20
        (folder / filename).write_bytes(body)
        sidecar = {"summary": f"The {name} project", "hash_sha256": hashlib.sha256(body).hexdigest()}
        (folder / (filename + ".meta")).write_text(json.dumps(sidecar))
        os.link(folder / filename, flat / filename)
    (root / "done").touch()
    return layout, flat


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def rss_mib(pid: int) -> float:
    """RSS of a process and its children (uvicorn's workers), in MiB."""
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)], capture_output=True, text=True)
    return sum(int(x) for x in out.stdout.split()) / 1024


def wrk(url: str, script: Path, seconds: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", "--timeout", "10s", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout

    def ms(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)\b", out)
        if not match:
            return float("nan")
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = re.search(r"Socket errors: .*?timeout (\d+)", out)
    return {
        "rps": float(rps[1]) if rps else 0.0,
        "p50": ms("50"),
        "p99": ms("99"),
        "bad": float(errors[1]) if errors else 0.0,
        "timeouts": float(failed[1]) if failed else 0.0,
    }


def lua(folder: Path, name: str, paths: list[tuple[str, str | None]], accept: str) -> Path:
    """A wrk script that sends the (path, ETag) pairs in random order."""
    rows = ",\n".join(f"{{{json.dumps(p)}, {json.dumps(e) if e else 'nil'}}}" for p, e in paths)
    script = folder / f"{name}.lua"
    script.write_text(
        f"local paths = {{\n{rows}\n}}\n"
        "math.randomseed(os.time())\n"
        "request = function()\n"
        "  local pick = paths[math.random(#paths)]\n"
        f'  local headers = {{["Accept"] = {json.dumps(accept)}, ["Accept-Encoding"] = "gzip"}}\n'
        '  if pick[2] then headers["If-None-Match"] = pick[2] end\n'
        '  return wrk.format("GET", pick[1], headers)\n'
        "end\n"
    )
    return script


def etag(url: str) -> str | None:
    request = urllib.request.Request(url, headers={"Accept": PIP_ACCEPT})
    for _ in range(50):
        try:
            with urllib.request.urlopen(request) as response:
                return response.headers.get("ETag")
        except urllib.error.HTTPError as err:
            if err.code != 503:  # 503: still starting (a server's start-up rebuild)
                raise
            time.sleep(1)
    raise RuntimeError(f"{url} kept answering 503")


def one_at_a_time(url: str, accept: str, times: int = 3) -> float:
    """The median time of ``times`` requests sent one after another (no load), in ms."""
    took = []
    for _ in range(times):
        start = time.perf_counter()
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept}), timeout=120) as r:
            r.read()
        took.append((time.perf_counter() - start) * 1000)
    return sorted(took)[len(took) // 2]


def drain(url: str, quick: float, limit: float = 300) -> None:
    """Wait until the server answers ``url`` within ``quick`` seconds again: a slow server still
    works through the queue a 64-connection run left it, and the next run must not
    measure that queue."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        start = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=limit) as response:
                response.read()
        except OSError:
            pass
        if time.monotonic() - start < quick:
            return
    print(f"warning: {url} still slow after {limit:.0f} s; the next figures include the queue", file=sys.stderr)


def measure(base: str, projects: int, seconds: int, work: Path, download: str) -> dict[str, dict[str, float]]:
    sample = [f"/simple/proj{i}/" for i in random.Random(7).sample(range(projects), min(projects, 1000))]
    alone = {
        "project page (200)": one_at_a_time(base + sample[-1], PIP_ACCEPT),
        "/simple/ (all projects)": one_at_a_time(base + "/simple/", PIP_ACCEPT),
        f"{BIG} page (5,000 files)": one_at_a_time(base + f"/simple/{BIG}/", PIP_ACCEPT),
        "download": one_at_a_time(base + download, "*/*"),
    }
    first = etag(base + sample[0])  # a server that sends no ETag gets no 304 run (and no 300 slow fetches)
    tags = [(sample[0], first)] + [(p, etag(base + p)) for p in sample[1:300]] if first else [(sample[0], None)]
    scripts = {  # the slow pages last, so that a server's queue delays no other figure
        "project page (200)": lua(work, "pages", [(p, None) for p in sample], PIP_ACCEPT),
        "project page (304)": lua(work, "etags", tags, PIP_ACCEPT) if all(e for _, e in tags) else None,
        "download": lua(work, "download", [(download, None)], "*/*"),
        "/simple/ (all projects)": lua(work, "index", [("/simple/", None)], PIP_ACCEPT),
        f"{BIG} page (5,000 files)": lua(work, "big", [(f"/simple/{BIG}/", None)], PIP_ACCEPT),
    }
    results = {}
    for label, script in scripts.items():
        results[label] = wrk(base, script, seconds) if script else {}
        if label in alone:
            results[label]["alone"] = alone[label]
        drain(base + download, quick=2 * alone["download"] / 1000 + 0.5)
    return results


def run_pkgcache(layout: Path, workers: int, projects: int, seconds: int, work: Path) -> dict[str, dict[str, float]]:
    config = work / f"pkgcache-{workers}.ini"
    db = work / "cache.db"
    config.write_text(
        f"[app:main]\npypi.db = sql\ndb.url = sqlite:///{db}\nstorage.dir = {layout}\npypi.fallback = none\n"
    )
    if not db.exists():
        subprocess.run([sys.executable, "-m", "pkgcache", "reload", "-c", str(config)], check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pkgcache", "serve", "-c", str(config), "--port", str(port),
         "--workers", str(workers), "--no-access-log"],
        stdout=subprocess.DEVNULL, stderr=(DATA / f"pkgcache-serve-{workers}.log").open("wb"),
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait(base + "/health")
        results = measure(base, projects, seconds, work, "/packages/proj0-1.0.tar.gz")
        results["rss"] = {"MiB": rss_mib(server.pid)}
        return results
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def peer_python(name: str, requirements: list[str]) -> Path:
    venv = DATA / "venvs" / name
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
    return python


def run_pypiserver(flat: Path, projects: int, seconds: int, work: Path) -> dict[str, dict[str, float]]:
    python = peer_python("pypiserver", ["pypiserver==2.4.2", "waitress", "setuptools<82"])
    port = free_port()
    server = subprocess.Popen(
        [str(python), "-m", "pypiserver", "run", "-p", str(port), "-i", "127.0.0.1", "--server", "auto",
         "-a", ".", "-P", ".", str(flat)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait(base + "/simple/")
        results = measure(base, projects, seconds, work, "/packages/proj0-1.0.tar.gz")
        results["rss"] = {"MiB": rss_mib(server.pid)}
        return results
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


_SITECUSTOMIZE = '''"""pypicloud 1.3.12's pyramid_duh calls inspect.getargspec, gone in Python 3.11."""
import collections
import inspect

if not hasattr(inspect, "getargspec"):
    ArgSpec = collections.namedtuple("ArgSpec", "args varargs keywords defaults")

    def getargspec(func):
        spec = inspect.getfullargspec(func)
        return ArgSpec(spec.args, spec.varargs, spec.varkw, spec.defaults)

    inspect.getargspec = getargspec
'''


def run_pypicloud(layout: Path, projects: int, seconds: int, work: Path) -> dict[str, dict[str, float]]:
    """pypicloud 1.3.12 under waitress (8 threads), its SQLite cache on the same folder."""
    python = peer_python("pypicloud", ["pypicloud==1.3.12", "SQLAlchemy<2", "setuptools<82", "waitress"])
    site = next((python.parent.parent / "lib").glob("python3*/site-packages"))
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    port = free_port()
    config = work / "pypicloud.ini"
    config.write_text(
        "[app:main]\nuse = egg:pypicloud\npypi.default_read = everyone\npypi.storage = file\n"
        f"storage.dir = {layout}\npypi.db = sql\ndb.url = sqlite:///{work}/pypicloud.db\npypi.fallback = none\n"
        f"session.encrypt_key = {base64.b64encode(os.urandom(32)).decode()}\nsession.validate_key = bench\n\n"
        f"[server:main]\nuse = egg:waitress#main\nhost = 127.0.0.1\nport = {port}\nthreads = 8\n"
    )
    server = subprocess.Popen(
        [str(python.parent / "pserve"), str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait(base + "/simple/proj0/")  # its start-up rebuild fills the cache first
        results = measure(base, projects, seconds, work, "/api/package/proj0/proj0-1.0.tar.gz")
        results["rss"] = {"MiB": rss_mib(server.pid)}
        return results
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    servers = list(results)
    labels = [k for k in next(iter(results.values())) if k != "rss"]
    lines = ["| measurement | " + " | ".join(servers) + " |", "|---" * (len(servers) + 1) + "|"]
    for label in labels:
        cells = []
        for server in servers:
            r = results[server].get(label) or {}
            if not r:
                cells.append("n/a")
                continue
            bad = f", {int(r['bad'])} non-2xx/3xx" if r["bad"] else ""
            alone = f"; alone {r['alone']:,.1f} ms" if "alone" in r else ""
            if not r["rps"]:
                cells.append(f"none answered within 10 s{alone}")
                continue
            rate = f"{r['rps']:,.0f}" if r["rps"] >= 10 else f"{r['rps']:.1f}"
            cells.append(f"{rate}/s (p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms{bad}{alone})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| RSS after the run | " + " | ".join(f"{results[s]['rss']['MiB']:.0f} MiB" for s in servers) + " |")
    first = servers[0]
    for peer in servers[1:]:
        ratios = []
        for label in labels:
            ours, theirs = results[first].get(label) or {}, results[peer].get(label) or {}
            if ours and theirs and theirs["rps"]:
                ratios.append(f"{label}: {ours['rps'] / theirs['rps']:.1f}x")
        lines.append(f"\nrequests/s, {first} / {peer}: " + "; ".join(ratios))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=5_000, help="files of the one big project")
    parser.add_argument("--seconds", type=int, default=10, help="per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--peers", nargs="*", choices=["pypiserver", "pypicloud"], default=["pypiserver", "pypicloud"])
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    layout, flat = storage(args.projects, args.big)
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for workers in args.workers:
            results[f"pkgcache serve ({workers} worker{'s' if workers > 1 else ''}, SQLite)"] = run_pkgcache(
                layout, workers, args.projects, args.seconds, work
            )
            print(json.dumps(results), flush=True)  # kept even if a later server fails
        if "pypiserver" in args.peers:
            results["pypiserver 2.4.2 (waitress)"] = run_pypiserver(flat, args.projects, args.seconds, work)
            print(json.dumps(results), flush=True)
        if "pypicloud" in args.peers:
            results["pypicloud 1.3.12 (waitress, SQLite)"] = run_pypicloud(layout, args.projects, args.seconds, work)
            print(json.dumps(results), flush=True)
    files = args.projects * 10 + args.big
    print(
        f"{files:,} files ({args.projects:,} projects x 10 + one of {args.big:,}); wrk -t2 -c64, {args.seconds} s each\n"
    )
    print(table(results))


if __name__ == "__main__":
    main()
