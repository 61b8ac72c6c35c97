"""What the lab's listeners share: loopback-only addresses, the TLS server context, serving from a thread.

The WS-Man listeners (``wire``) and the cloud stand-in (``cloud``) both use these; neither imports the other.
"""

from __future__ import annotations

import ipaddress
import socketserver
import ssl
import threading
from http.server import ThreadingHTTPServer

from ..errors import LabError
from .pki import TlsMaterial


class LoopbackHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` that binds without a name lookup.

    ``HTTPServer.server_bind`` sets ``server_name`` from ``socket.getfqdn(host)``: a reverse-DNS query to the
    machine's resolver on every start, traffic beyond loopback that the lab must never send.
    """

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


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


def serve_in_background(server: socketserver.BaseServer, *, name: str,
                        poll_interval: float) -> threading.Thread:
    """Run ``server.serve_forever`` in a daemon thread (so a forgotten lab never keeps a process alive)."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": poll_interval},
                              name=name, daemon=True)
    thread.start()
    return thread


def shut_down(server: socketserver.BaseServer | None, thread: threading.Thread | None) -> None:
    """Stop ``serve_forever``, close the listening socket, and wait (5 s at most) for the serving thread."""
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(timeout=5)
