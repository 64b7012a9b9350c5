"""SNS delivery as AWS does it, between moto's SNS and the webhook: asynchronous and retried.

moto's SNS POSTs to an HTTP subscriber inside the S3 PUT that caused the notification,
and does not retry a delivery answered 5xx. AWS's SNS does neither: the PUT returns
once S3 has the object, deliveries go out on their own with high concurrency, and a
refused delivery is retried on the subscription's delivery policy (docproc's
`provision` sets `provision.DELIVERY_POLICY`). So under moto a webhook that holds a
delivery (to group it, or while Prefect is busy) holds the uploader too, and a 503
loses the object: neither happens in AWS.

The relay is subscribed in the webhook's place. It answers moto at once, queues the
message, and delivers it to the webhook from a pool of threads, again after the
policy's delays while the webhook answers 5xx or cannot be reached. Message bodies
and SNS headers go through unchanged.

The relay stands for AWS's machines, not docproc's, yet shares the bench's 2 cores:
each delivery thread keeps a connection of its own (`http.client`), which costs a
fraction of a shared httpx pool, whose lock 200 threads contended for (py-spy: the
relay was 59% of the bench process's samples during a burst, most of them in httpx).
It runs in a process of its own (`relaying_apart`), as bench/latency_proxy.py does:
AWS's SNS does not share an interpreter lock with the uploaders. (Measured with a
1,000-upload burst, the move changed its time by nothing beyond the noise.)

Run alone: `.venv/bin/python -m bench.sns_relay WEBHOOK_URL` prints the URL to subscribe,
relays until its standard input closes, then prints what it did as JSON.
"""

from __future__ import annotations

import http.client
import json
import queue
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from bench.harness import REPO, BenchError
from devtools.emulator import free_port
from docproc import provision

DELIVERY_THREADS = 400  # deliveries in flight at once: AWS's SNS fans a burst out wide
TIMEOUT_SECONDS = 15.0  # SNS's own timeout for an HTTP delivery


def retry_delays() -> list[float]:
    """The waits of `provision.DELIVERY_POLICY`, shortened to what a bench can wait for:
    the no-delay and minimum-delay retries, then the backoff toward maxDelayTarget."""
    policy = provision.DELIVERY_POLICY["healthyRetryPolicy"]
    low, high = float(policy["minDelayTarget"]), float(policy["maxDelayTarget"])
    delays = [0.0] * policy["numNoDelayRetries"] + [low] * policy["numMinDelayRetries"]
    step = low
    while step < high and len(delays) < policy["numRetries"]:
        step = min(high, step * 2)
        delays.append(step)
    return delays


class Relay:
    """Counts what it did: `received`, `delivered`, `retried (why)` (attempts answered 5xx
    or failed) and `given_up` (messages whose retries ran out)."""

    def __init__(self, target: str) -> None:
        url = urlsplit(target)
        self._host, self._port, self._path = url.hostname or "127.0.0.1", url.port, url.path
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[bytes, dict[str, str]] | None] = queue.Queue()
        self._delays = retry_delays()

    def count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def accept(self, body: bytes, headers: dict[str, str]) -> None:
        self.count("received")
        self._queue.put((body, headers))

    def work(self) -> None:
        """One delivery thread: its own keep-alive connection, opened again after a failure."""
        connection: http.client.HTTPConnection | None = None
        while (item := self._queue.get()) is not None:
            connection = self._deliver(connection, *item)
        if connection is not None:
            connection.close()

    def _attempt(
        self, connection: http.client.HTTPConnection | None, body: bytes, headers: dict[str, str]
    ) -> tuple[http.client.HTTPConnection | None, int, str]:
        """One delivery attempt: (the connection to keep, status or 0, what went wrong).
        A kept connection the webhook has closed meanwhile is opened again at once."""
        for fresh in (connection is None, True):
            if connection is None:
                connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=TIMEOUT_SECONDS
                )
            try:
                connection.request("POST", self._path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                return connection, response.status, f"answered {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                connection = None
                if fresh:
                    return None, 0, type(exc).__name__
        raise AssertionError("unreachable")

    def _deliver(
        self, connection: http.client.HTTPConnection | None, body: bytes, headers: dict[str, str]
    ) -> http.client.HTTPConnection | None:
        for delay in (*self._delays, None):
            connection, status, failure = self._attempt(connection, body, headers)
            if 200 <= status < 500:
                self.count("delivered" if status < 300 else "refused 4xx")
                return connection
            if delay is None:
                self.count("given_up")
                return connection
            self.count(f"retried ({failure})")
            time.sleep(delay)
        raise AssertionError("unreachable")

    def stop(self, threads: int) -> None:
        for _ in range(threads):
            self._queue.put(None)


@contextmanager
def relaying(target: str) -> Iterator[tuple[str, Relay]]:
    """A relay to `target` on loopback: yields the URL to subscribe, and the relay."""
    relay = Relay(target)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            wanted = ("content-type", "x-amz-sns-message-type", "x-amz-sns-topic-arn")
            headers = {k: v for k, v in self.headers.items() if k.lower() in wanted}
            relay.accept(body, headers)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024

    port = free_port()
    server = Server(("127.0.0.1", port), Handler)
    threads = [threading.Thread(target=server.serve_forever, daemon=True)]
    threads += [threading.Thread(target=relay.work, daemon=True) for _ in range(DELIVERY_THREADS)]
    for thread in threads:
        thread.start()
    try:
        yield f"http://127.0.0.1:{port}/sns", relay
    finally:
        server.shutdown()
        relay.stop(DELIVERY_THREADS)


class RelayCounts:
    """What a relay in another process did, known once it has stopped (`Relay.counts`)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()


@contextmanager
def relaying_apart(target: str) -> Iterator[tuple[str, RelayCounts]]:
    """`relaying` in a process of its own: yields the URL to subscribe, and the counts,
    filled in when the relay stops on the way out."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.sns_relay", target],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    found = RelayCounts()
    try:
        url = proc.stdout.readline().decode().strip()
        if not url.startswith("http://"):
            raise BenchError(f"the SNS relay did not start (it said {url!r})")
        yield url, found
    finally:
        try:  # closing its standard input is the relay's cue to stop and report
            out, _ = proc.communicate(timeout=TIMEOUT_SECONDS * 2)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        found.counts.update(json.loads(out or b"{}"))


def main() -> None:
    with relaying(sys.argv[1]) as (url, relay):
        print(url, flush=True)
        sys.stdin.read()  # until the bench closes it
    print(json.dumps(relay.counts), flush=True)


if __name__ == "__main__":
    main()
