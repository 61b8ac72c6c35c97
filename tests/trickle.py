"""A TCP proxy that forwards to a real endpoint but answers one byte at a time: the "dripping host".

The client's bytes reach the target unchanged (TLS stays end to end, so the lab's certificate still
matches); the target's answer reaches the client one byte every ``interval_s``, after the first
``after_bytes`` bytes went through at full speed (0: the TLS handshake trickles too). Loopback only.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class TrickleProxy:
    def __init__(self, target: tuple[str, int], *, listen_host: str = "127.0.0.1",
                 interval_s: float = 0.5, after_bytes: int = 0) -> None:
        self.target = target
        self.interval_s = interval_s
        self.after_bytes = after_bytes
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((listen_host, 0))
        self._listener.listen(16)
        self.host, self.port = self._listener.getsockname()[:2]
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            self.connections += 1
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, trickle: bool) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while not self._stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                if not trickle:
                    dst.sendall(data)
                    continue
                fast = max(0, min(len(data), self.after_bytes - sent))
                if fast:
                    dst.sendall(data[:fast])
                    sent += fast
                for byte in data[fast:]:
                    if self._stop.wait(self.interval_s):
                        return
                    dst.sendall(bytes([byte]))
                    sent += 1
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> TrickleProxy:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

