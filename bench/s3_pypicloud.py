"""pypicloud's half of ``bench/s3.py``: its ``S3Storage.list()`` on the same bucket.

Run with a Python that has pypicloud 1.3.12 (never a dependency of pkgcache):

    python -m venv /tmp/bench-ppc && /tmp/bench-ppc/bin/pip install pypicloud==1.3.12 'sqlalchemy<2' boto3
    /tmp/bench-ppc/bin/python bench/s3_pypicloud.py --endpoint http://127.0.0.1:PORT --bucket NAME

Prints one JSON object: files listed, seconds, the CPU seconds of this
process during ``list()`` (``cpu``), and the requests sent by operation,
counted with botocore's event hooks.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from typing import Any

import boto3
from pypicloud.storage.s3 import S3Storage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", default="")
    args = parser.parse_args()

    resource = boto3.resource(
        "s3",
        endpoint_url=args.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
    )
    bucket = resource.Bucket(args.bucket)
    counts: Counter[str] = Counter()

    def sent(**kwargs: Any) -> None:
        counts[kwargs["event_name"].rsplit(".", 1)[1]] += 1

    resource.meta.client.meta.events.register("before-send.s3.*", sent)
    storage = S3Storage(None, bucket=bucket, bucket_prefix=args.prefix, prepend_hash=True, expire_after=86400)
    started, cpu = time.perf_counter(), time.process_time()
    files = sum(1 for _ in storage.list())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"files": files, "seconds": seconds, "cpu": cpu, "requests": dict(counts)}))


if __name__ == "__main__":
    main()
