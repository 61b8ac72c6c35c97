"""The lab directory's listeners: LDAP (signed and sealed after a SASL bind) and LDAPS, one thread per client.

Framing: plain LDAP messages are BER elements back to back; once a SASL bind negotiated a security layer,
every message both ways is one RFC 4752 section 3.1 frame (4-byte big-endian length, then the wrapped
bytes), and a frame may carry several messages. Plain sockets on a loopback address: no name lookups.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

from ...directory import ber
from ...errors import LabError
from .protocol import Session

log = logging.getLogger(__name__)

_MAX_MESSAGE = 1024 * 1024  # the audit's requests are a few hundred bytes
_IDLE_TIMEOUT_S = 120.0


class Listener:
    """Accepts connections on ``address``:ephemeral port and serves each with ``new_session(tls)``."""

    def __init__(self, address: str, new_session: Callable[[bool], Session], *,
                 tls: ssl.SSLContext | None = None, name: str = "ldap") -> None:
        self._new_session = new_session
        self._tls = tls
        self._name = name
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((address, 0))
        except OSError as exc:
            self._sock.close()
            raise LabError(f"lab directory: cannot listen on {address} ({exc.strerror or exc})",
                           fix="use a 127.0.0.x loopback address") from None
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]
        self._stopping = threading.Event()
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name=f"lab-{name}-{self.port}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), name=f"lab-{self._name}-client",
                             daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(_IDLE_TIMEOUT_S)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client: socket.socket = raw
        with self._lock:
            self._clients.add(raw)
        try:
            if self._tls is not None:
                client = self._tls.wrap_socket(raw, server_side=True)
            _Connection(client, self._new_session(self._tls is not None)).run()
        except (OSError, ssl.SSLError, ber.BerError) as exc:
            log.debug("lab directory: connection ended: %s", exc)
        finally:
            with self._lock:
                self._clients.discard(raw)
            with contextlib.suppress(OSError):
                client.close()


class _Connection:
    def __init__(self, sock: socket.socket, session: Session) -> None:
        self._sock = sock
        self._session = session
        self._layer: Any = None  # the pyspnego context once a SASL security layer is on
        self._plain = b""

    def run(self) -> None:
        while True:
            message = self._next_message()
            if message is None:
                return
            reply = self._session.handle(message)
            # One write per reply: entries and the done message written one by one would wait on Nagle's
            # algorithm and the client's delayed ACK (about 40 ms per search, measured).
            self._sock.sendall(b"".join(self._frame(out) for out in reply.messages))
            if reply.layer is not None:
                self._layer = reply.layer
            if reply.close:
                return

    def _frame(self, data: bytes) -> bytes:
        if self._layer is None:
            return data
        wrapped: bytes = self._layer.wrap(data, encrypt=True).data
        return len(wrapped).to_bytes(4, "big") + wrapped

    def _read(self, size: int) -> bytes | None:
        chunks = []
        while size:
            chunk = self._sock.recv(min(size, 65536))
            if not chunk:
                return None
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _next_message(self) -> bytes | None:
        while True:
            size = ber.message_size(self._plain)
            if size is not None and size > _MAX_MESSAGE:
                return None
            if size is not None and len(self._plain) >= size:
                message, self._plain = self._plain[:size], self._plain[size:]
                return message
            if self._layer is not None:
                header = self._read(4)
                if header is None or int.from_bytes(header, "big") > _MAX_MESSAGE:
                    return None
                frame = self._read(int.from_bytes(header, "big"))
                if frame is None:
                    return None
                try:
                    self._plain += self._layer.unwrap(frame).data
                except Exception as exc:  # a frame that fails its signature ends the session, as on a DC
                    log.info("lab directory: SASL frame refused: %s", type(exc).__name__)
                    return None
            else:
                more = self._read(max(1, (size or 2) - len(self._plain)))
                if more is None:
                    return None
                self._plain += more
