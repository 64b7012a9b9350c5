"""Acknowledgement latency of the webhook under SNS-like load, signatures verified.

Run as `.venv/bin/python -m bench.webhook [--rate 200] [--seconds 10]`; `main()` returns
the figures so that another script can collect them. The server runs in a process of its
own, so that the load generator does not compete with it for the interpreter lock; the
load is open-loop (a fixed schedule, latency counted from the scheduled send time), so a
slow answer cannot hide by delaying the requests behind it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import multiprocessing
import os
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import quote_plus

import httpx
import uvicorn

from devtools.sns_signing import (
    TOPIC_ARN,
    SigningIdentity,
    encode,
    make_identity,
    s3_event,
    signed_message,
)
from docproc.models import ObjectRef
from docproc.settings import Settings
from docproc.sns import CertificateStore
from docproc.webhook import create_app

SEED = 20250301
DUPLICATE_SHARE = 0.2
BUCKET = "docproc-source"
HEADERS = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}
TIMEOUT_SECONDS = 30


def _serve(cert_pem: bytes, hand_over_ms: float, conn: Connection) -> None:
    """The server process: sends its port, serves until told to stop, then sends the counts."""
    counts: Counter[ObjectRef] = Counter()
    lock = threading.Lock()

    def hand_over(refs: Sequence[ObjectRef]) -> None:
        time.sleep(hand_over_ms / 1000)  # stands for the POST to Prefect's /events
        with lock:
            counts.update(refs)

    settings = Settings(_env_file=None, sns_verify=True, sns_topic_arns=TOPIC_ARN)  # type: ignore[call-arg]
    store = CertificateStore(fetch=lambda url: cert_pem)
    app = create_app(settings, hand_over, certificates=store)
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only then, and Nagle's algorithm
    # with delayed ACKs would add 40 ms to every answer.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    sock.listen()  # connections wait in the backlog until uvicorn accepts them
    conn.send(sock.getsockname()[1])

    def stop_when_told() -> None:
        conn.recv()
        server.should_exit = True

    threading.Thread(target=stop_when_told, daemon=True).start()
    server.run(sockets=[sock])
    conn.send(counts)


def make_bodies(
    identity: SigningIdentity, count: int, seed: int = SEED
) -> tuple[list[bytes], set[ObjectRef]]:
    """Signed Notifications and the objects they name; about DUPLICATE_SHARE of them name an
    object already sent, half as the same body again (an SNS retry), half under a new
    MessageId (an S3 retry)."""
    rng = random.Random(seed)
    sent: list[tuple[ObjectRef, bytes]] = []
    bodies: list[bytes] = []
    for n in range(count):
        if sent and rng.random() < DUPLICATE_SHARE:
            ref, body = rng.choice(sent)
            if rng.random() < 0.5:
                bodies.append(body)
                continue
        else:
            ref = ObjectRef(BUCKET, f"in/inv {n:06d}.txt", f"{rng.getrandbits(128):032x}")
        record = (ref.bucket, quote_plus(ref.key, safe=""), ref.etag or "")
        fields = signed_message(
            identity, message=s3_event(record), version=rng.choice("12"), message_id=f"m-{n}"
        )
        sent.append((ref, encode(fields)))
        bodies.append(sent[-1][1])
    return bodies, {ref for ref, _ in sent}


async def _post_all(url: str, bodies: list[bytes], rate: float) -> tuple[list[float], int, float]:
    """Latencies in seconds, the number of answers other than 200, and the wall time."""
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=15.0) as client:
        await client.get("/healthz")
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05

        async def one(index: int, body: bytes) -> tuple[float, int]:
            scheduled = start + index / rate
            await asyncio.sleep(max(0.0, scheduled - loop.time()))
            response = await client.post("/sns", content=body, headers=HEADERS)
            return loop.time() - scheduled, response.status_code

        results = await asyncio.gather(*(one(i, body) for i, body in enumerate(bodies)))
        elapsed = loop.time() - start
    latencies = [latency for latency, _ in results]
    return latencies, sum(status != 200 for _, status in results), elapsed


def _percentile(ordered: list[float], share: float) -> float:
    """Nearest rank: a value that was really observed."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def run(rate: float, seconds: float, hand_over_ms: float) -> dict[str, Any]:
    """One measured run against a fresh server: nothing remembered from an earlier one."""
    identity = make_identity()
    bodies, objects = make_bodies(identity, round(rate * seconds))
    spawn = multiprocessing.get_context("spawn")
    parent, child = spawn.Pipe()
    server = spawn.Process(target=_serve, args=(identity.pem, hand_over_ms, child), daemon=True)
    server.start()
    try:
        if not parent.poll(TIMEOUT_SECONDS):
            raise RuntimeError("the webhook did not start")
        port = parent.recv()
        # The generator's own collector pauses are not the webhook's latency.
        gc.collect()
        gc.freeze()
        try:
            latencies, errors, elapsed = asyncio.run(
                _post_all(f"http://127.0.0.1:{port}", bodies, rate)
            )
        finally:
            gc.unfreeze()
        parent.send("stop")
        if not parent.poll(TIMEOUT_SECONDS):
            raise RuntimeError("the webhook did not stop")
        counts: Counter[ObjectRef] = parent.recv()
    finally:
        server.join(TIMEOUT_SECONDS)
        if server.is_alive():
            server.kill()
    ordered = sorted(latencies)
    return {
        "requests": len(bodies),
        "rate": len(bodies) / elapsed,
        "p50_ms": _percentile(ordered, 0.50) * 1000,
        "p95_ms": _percentile(ordered, 0.95) * 1000,
        "p99_ms": _percentile(ordered, 0.99) * 1000,
        "max_ms": ordered[-1] * 1000,
        "errors": errors,
        "objects": len(objects),
        "handed_over": sum(counts.values()),
        "handed_over_twice": sum(n > 1 for n in counts.values()),
        "missing": len(objects - counts.keys()),
        "cpu_count": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args_parser = argparse.ArgumentParser(description=__doc__)
    args_parser.add_argument("--rate", type=float, default=200, help="requests per second")
    args_parser.add_argument("--seconds", type=float, default=10, help="length of the run")
    args_parser.add_argument(
        "--hand-over-ms", type=float, default=0, help="time each hand-over takes (Prefect's POST)"
    )
    args = args_parser.parse_args(argv)
    figures = run(args.rate, args.seconds, args.hand_over_ms)
    columns = (
        ("requests", "requests", "d"),
        ("rate", "req/s", ".1f"),
        ("p50_ms", "p50 ms", ".1f"),
        ("p95_ms", "p95 ms", ".1f"),
        ("p99_ms", "p99 ms", ".1f"),
        ("max_ms", "max ms", ".1f"),
        ("errors", "non-200", "d"),
        ("objects", "objects", "d"),
        ("handed_over", "handed over", "d"),
        ("handed_over_twice", "twice", "d"),
        ("missing", "missing", "d"),
        ("cpu_count", "cores", "d"),
    )
    print(" ".join(f"{title:>{max(len(title), 7)}}" for _, title, _ in columns))
    print(" ".join(f"{figures[key]:>{max(len(title), 7)}{spec}}" for key, title, spec in columns))
    return figures


if __name__ == "__main__":
    main()
