"""A loopback TCP proxy that drops chosen connections: real transient faults for S3 and MySQL.

The client sees exactly what a flaky network does to it (a connection closed
mid-request), so the retry paths under test are the real ones.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._pattern = b""
        self._budget = 0
        self.dropped = 0
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_when(self, pattern: bytes, times: int = 1) -> None:
        """Close the next `times` connections whose client sends bytes containing `pattern`."""
        with self._lock:
            self._pattern, self._budget = pattern, times

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
