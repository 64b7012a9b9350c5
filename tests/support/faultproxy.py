"""Loopback proxies that inject real transient faults: for S3, MySQL and the Prefect API.

The client sees exactly what a flaky network does to it (a connection closed
mid-request), so the retry paths under test are the real ones.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import math
import random
import re
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit


class FaultProxy:
    """A TCP proxy that can close chosen connections (`drop_when`) or every connection after
    a random lifetime (`cut_after`): a flapping network."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._pattern = b""
        self._budget = 0
        self.dropped = 0
        self._lifetimes: random.Random | None = None
        self._mean_lifetime = 0.0
        self.cut = 0
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_when(self, pattern: bytes, times: int = 1) -> None:
        """Close the next `times` connections whose client sends bytes containing `pattern`."""
        with self._lock:
            self._pattern, self._budget = pattern, times

    def cut_after(self, mean_seconds: float, seed: int = 0) -> None:
        """Close every connection opened from now on after a lifetime drawn from an exponential
        distribution of this mean (seeded, so that a run's lifetimes are the same each time)."""
        with self._lock:
            self._lifetimes, self._mean_lifetime = random.Random(seed), mean_seconds

    def _lifetime(self) -> float | None:
        with self._lock:
            if self._lifetimes is None:
                return None
            return self._lifetimes.expovariate(1 / self._mean_lifetime)

    def _cut(self, client: socket.socket, upstream: socket.socket) -> None:
        """End the connection both ways, as a dead link does; the pumps see it and stop."""
        with self._lock:
            self.cut += 1
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _should_drop(self, chunk: bytes) -> bool:
        with self._lock:
            if self._budget > 0 and self._pattern in chunk:
                self._budget -= 1
                self.dropped += 1
                return True
        return False

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            if (lifetime := self._lifetime()) is not None:
                timer = threading.Timer(lifetime, self._cut, args=(client, upstream))
                timer.daemon = True
                timer.start()
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, inspect: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if inspect and self._should_drop(chunk):
                    break
                dst.sendall(chunk)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closing = True
        self._server.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class HttpFaultProxy:
    """A loopback HTTP proxy that answers 503 to chosen requests: a busy Prefect API.

    The 503 is the one Prefect's server sends when its SQLite is locked. It says
    `Retry-After: 0`, so that Prefect's client spends its own retries (about a
    minute's worth against a real server) at once and the failure reaches the
    caller, as it did in the issue. Every other request, websockets (the events
    stream) included, reaches the target.
    """

    BUSY = b'{"exception_message": "Service Unavailable"}'

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._lock = threading.Lock()
        self._rules: list[_Busy] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                if self.headers.get("Upgrade"):
                    self._tunnel()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = f"{self.command} {urlsplit(self.path).path}"
                if proxy._should_fail(request, body):
                    self.send_response(503)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(proxy.BUSY)))
                    self.end_headers()
                    self.wfile.write(proxy.BUSY)
                    return
                upstream = http.client.HTTPConnection(*proxy.target, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                finally:
                    upstream.close()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in _HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _tunnel(self) -> None:
                """Pass an upgraded connection (a websocket) through untouched."""
                upstream = socket.create_connection(proxy.target)
                lines = [self.requestline, *(f"{k}: {v}" for k, v in self.headers.items())]
                upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
                threading.Thread(
                    target=_pump, args=(upstream, self.connection), daemon=True
                ).start()
                _pump(self.connection, upstream)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def busy_for(self, seconds: float, request: str, body: bytes = b"") -> None:
        """Answer 503 to requests whose `METHOD /path` matches the regex `request` and whose
        body holds `body`, from the first such request on, for `seconds`."""
        with self._lock:
            self._rules.append(_Busy(re.compile(request), body, seconds))

    def fail_next(self, times: int, request: str, body: bytes = b"") -> None:
        """Answer 503 to the next `times` requests that match, as `busy_for` matches them."""
        with self._lock:
            self._rules.append(_Busy(re.compile(request), body, math.inf, budget=times))

    @property
    def answered_503(self) -> dict[str, int]:
        """How many requests each rule answered with 503, by its `request` pattern."""
        with self._lock:
            return {rule.request.pattern: rule.answered for rule in self._rules}

    def _should_fail(self, request: str, body: bytes) -> bool:
        now = time.monotonic()
        with self._lock:
            for rule in self._rules:
                if rule.request.search(request) and rule.body in body:
                    if rule.since is None:
                        rule.since = now
                    if now - rule.since < rule.seconds and rule.answered < rule.budget:
                        rule.answered += 1
                        return True
        return False

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HttpFaultProxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass
class _Busy:
    request: re.Pattern[str]
    body: bytes
    seconds: float
    budget: float = math.inf
    since: float | None = None
    answered: int = 0


# Headers that belong to one connection, not to the request passed on.
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"})


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    for sock in (src, dst):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
