"""What the lab's listeners share: loopback-only addresses, the TLS server context, serving from a thread.

The WS-Man listeners (``wire``) and the cloud stand-in (``cloud``) both use these; neither imports the other.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import selectors
import socketserver
import ssl
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from ..errors import LabError
from .pki import TlsMaterial


class LoopbackHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` that binds without a name lookup and sleeps while idle.

    ``HTTPServer.server_bind`` sets ``server_name`` from ``socket.getfqdn(host)``: a reverse-DNS query to the
    machine's resolver on every start, traffic beyond loopback that the lab must never send.

    ``BaseServer.serve_forever`` wakes every ``poll_interval`` to see whether ``shutdown()`` was called (its
    own comment calls that wasted CPU); a fleet of 100 servers with two listeners each, polling every 50 ms
    to stop promptly, burnt ~9% of a core doing nothing (issue 13). Here ``shutdown()`` wakes the loop
    through a pipe, so it stops at once and an idle listener does not run at all.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._stop_requested = False
        self._stopped = threading.Event()
        self._wake_read, self._wake_write = os.pipe()
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            self._close_pipe()
            raise

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Handle requests until ``shutdown()``; ``poll_interval`` only paces ``service_actions``."""
        self._stopped.clear()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self, selectors.EVENT_READ)
                selector.register(self._wake_read, selectors.EVENT_READ)
                while not self._stop_requested:
                    ready = selector.select(poll_interval)
                    if self._stop_requested:  # as the stdlib: a shutdown during select() wins
                        break
                    for key, _ in ready:
                        if key.fileobj is self:  # what BaseServer.serve_forever calls (not in typeshed)
                            self._handle_request_noblock()  # type: ignore[attr-defined]
                        else:  # a stale wake-up (a shutdown that raced the previous loop's end)
                            os.read(self._wake_read, 64)
                    self.service_actions()
        finally:
            self._stop_requested = False
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop ``serve_forever`` (running in another thread) and wait until it has returned."""
        self._stop_requested = True
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"x")
        self._stopped.wait()

    def server_close(self) -> None:
        super().server_close()
        self._close_pipe()

    def _close_pipe(self) -> None:
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_read = self._wake_write = -1


def require_loopback(address: str, what: str) -> str:
    """``address`` as a normalised IP literal, or a ``LabError``: the lab never listens on a network."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise LabError(f"{what}: {address!r} is not an IP address",
                       fix="use a loopback address such as 127.0.0.11") from None
    if not ip.is_loopback:
        raise LabError(f"{what}: {address} is not a loopback address; the lab never listens on a network",
                       fix="use an address in 127.0.0.0/8")
    return str(ip)


def tls_server_context(tls: TlsMaterial) -> ssl.SSLContext:
    """A server context with the lab's leaf certificate; TLS 1.2 at least, as WinRM and Entra require."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(tls.cert_pem), str(tls.key_pem))
    return context


_IDLE_WAKE_S = 5.0  # shutdown() wakes the loop itself; this only bounds a wait nothing else ends


def serve_in_background(server: LoopbackHTTPServer, *, name: str) -> threading.Thread:
    """Run ``server.serve_forever`` in a daemon thread (so a forgotten lab never keeps a process alive)."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": _IDLE_WAKE_S},
                              name=name, daemon=True)
    thread.start()
    return thread


def shut_down(server: LoopbackHTTPServer | None, thread: threading.Thread | None) -> None:
    """Stop ``serve_forever``, close the listening socket, and wait (5 s at most) for the serving thread."""
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(timeout=5)
