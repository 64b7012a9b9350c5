"""A loopback TCP proxy that adds a fixed latency to every HTTP request: S3 at a distance.

Real S3 answers in 10-30 ms; moto on loopback in about 2 ms, which hides whether a
client overlaps its requests. Between a client and moto, this proxy holds the first
bytes of each request for `delay_ms` before forwarding them, so every request/response
round trip costs `delay_ms` more, on every connection independently (32 concurrent
requests all wait at once, as they would for S3). What is delayed, exactly: on each
connection, the first client-to-server chunk after a server-to-client chunk (or the
first one of the connection). HTTP/1.1 clients such as boto3 send one request at a time
per connection, so that is one delay per request; a PUT pays twice, because boto3 sends
`Expect: 100-continue` and waits for the `100 Continue` before the body, as it does
against S3. Answers pass through at once, and opening a connection costs nothing extra:
moto (Werkzeug) closes the connection after every answer, so boto3 connects anew for
each request, which against S3 it would not (it keeps connections alive); this models S3
over kept-alive connections.

The proxy runs in a process of its own, so that its work does not compete for the
interpreter lock with the client being measured:

    with LatencyProxy("127.0.0.1", moto_port, delay_ms=15) as proxy:
        s3 = storage.s3_client(endpoint_url=proxy.url)

Run alone: `.venv/bin/python -m bench.latency_proxy TARGET_HOST TARGET_PORT --delay-ms 15`.
"""

from __future__ import annotations

import argparse
import contextlib
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from types import FrameType, TracebackType

from devtools.emulator import stop

START_TIMEOUT_SECONDS = 20
CHUNK = 65536


class _Connection:
    """One client connection and its upstream; `request_starts`: the next chunk opens a request."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.request_starts = True

    def close(self) -> None:
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _nodelay(sock: socket.socket) -> socket.socket:
    """Forward small writes at once: Nagle plus delayed ACKs would add 40 ms of their own."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _requests(conn: _Connection, delay: float) -> None:
    try:
        while chunk := conn.client.recv(CHUNK):
            if conn.request_starts:
                conn.request_starts = False
                time.sleep(delay)
            conn.upstream.sendall(chunk)
    except OSError:
        pass
    conn.close()


def _answers(conn: _Connection) -> None:
    try:
        while chunk := conn.upstream.recv(CHUNK):
            conn.request_starts = True
            conn.client.sendall(chunk)
    except OSError:
        pass
    conn.close()


def serve(target: tuple[str, int], delay_ms: float, listener: socket.socket) -> None:
    """Accept and relay until the process is told to stop; two threads per connection."""
    delay = delay_ms / 1000
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection(target, timeout=5)
        except OSError:
            client.close()
            continue
        upstream.settimeout(None)
        conn = _Connection(_nodelay(client), _nodelay(upstream))
        threading.Thread(target=_requests, args=(conn, delay), daemon=True).start()
        threading.Thread(target=_answers, args=(conn,), daemon=True).start()


class LatencyProxy:
    """The proxy as a child process on a free loopback port; stopped on exit."""

    def __init__(self, target_host: str, target_port: int, delay_ms: float = 15) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.delay_ms = delay_ms
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LatencyProxy:
        self._proc = subprocess.Popen(
            [sys.executable, __file__, self.target_host, str(self.target_port),
             "--delay-ms", str(self.delay_ms)],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], START_TIMEOUT_SECONDS)
        line = self._proc.stdout.readline() if ready else b""
        if not line.startswith(b"port "):
            self.close()
            raise RuntimeError("the latency proxy did not start")
        self.port = int(line.split()[1])
        return self

    def close(self) -> None:
        if self._proc is None:
            return
        stop(self._proc)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main() -> None:
    cli = argparse.ArgumentParser(description="Loopback TCP proxy adding latency per request.")
    cli.add_argument("target_host")
    cli.add_argument("target_port", type=int)
    cli.add_argument("--delay-ms", type=float, default=15, help="added to each request")
    args = cli.parse_args()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    listener = socket.create_server(("127.0.0.1", 0), backlog=256)
    print(f"port {listener.getsockname()[1]}", flush=True)
    serve((args.target_host, args.target_port), args.delay_ms, listener)


if __name__ == "__main__":
    main()
