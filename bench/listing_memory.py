"""Peak resident memory of a listing pass, for prefixes of different sizes: it must stay flat.

A backfill over a prefix of millions of objects must not hold the listing in memory. The
pass here is the backfill's own listing, `docproc.storage.iter_pages` (list_objects_v2
page by page), each page dropped once its objects are counted. Each size is listed in a
fresh child process, so that its peak (VmHWM) is its own; the child also reports its
peak before the listing (after imports and a one-key warm-up call), which is what the
interpreter and boto3 cost anyway.

Run alone: `.venv/bin/python -m bench.listing_memory --sizes 10000 100000`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import corpus, harness
from devtools.emulator import moto_server
from docproc import storage

PREFIX = "mem/"
CHILD_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class ListingMemory:
    keys: int
    before_kib: int
    peak_kib: int


def _max_rss_kib() -> int:
    """This process's peak RSS: VmHWM, not ru_maxrss, which Linux carries over across exec
    from the parent (a child of a 160 MiB parent would report at least 160 MiB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise harness.BenchError("no VmHWM in /proc/self/status (Linux only)")


def _list(endpoint: str, bucket: str, prefix: str) -> None:
    """The child: count the keys page by page and print the figures as JSON."""
    s3 = harness.s3_client(endpoint)
    s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    before = _max_rss_kib()
    keys = 0
    for page in storage.iter_pages(s3, bucket, prefix):
        keys += len(page)
    print(json.dumps({"keys": keys, "before_kib": before, "peak_kib": _max_rss_kib()}))


def measure_listing(endpoint: str, bucket: str, prefix: str) -> ListingMemory:
    """One listing pass in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.listing_memory", "--child", endpoint, bucket, prefix],
        cwd=harness.REPO,
        capture_output=True,
        timeout=CHILD_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise harness.BenchError(f"listing child failed: {done.stderr.decode()[-2000:]}")
    return ListingMemory(**json.loads(done.stdout))


def measure(endpoint: str, sizes: list[int]) -> dict[int, ListingMemory]:
    """A bucket of tiny objects per size (32 upload threads), then one listing pass each."""
    s3 = harness.s3_client(endpoint)
    results = {}
    for size in sizes:
        bucket = harness.unique(f"mem{size}")
        harness.create_buckets(s3, bucket)
        corpus.upload(s3, bucket, PREFIX, size, body=lambda _: b"x")
        found = measure_listing(endpoint, bucket, PREFIX)
        if found.keys != size:
            raise harness.BenchError(f"listed {found.keys} keys of {size}")
        results[size] = found
    return results


def main() -> None:
    cli = argparse.ArgumentParser(description="Peak RSS of a listing pass per prefix size.")
    cli.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    cli.add_argument(
        "--child", nargs=3, metavar=("ENDPOINT", "BUCKET", "PREFIX"), help=argparse.SUPPRESS
    )
    args = cli.parse_args()
    if args.child:
        _list(*args.child)
        return
    with moto_server() as endpoint:
        for size, found in measure(endpoint, args.sizes).items():
            print(
                f"{size:>8} objects: peak RSS {found.peak_kib / 1024:.1f} MiB "
                f"({found.before_kib / 1024:.1f} MiB before listing)"
            )


if __name__ == "__main__":
    main()
