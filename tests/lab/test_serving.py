"""The lab's listening loop: it sleeps while idle, and ``shutdown()`` still stops it at once (issue 13)."""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from entra_standby.lab.serving import LoopbackHTTPServer, serve_in_background, shut_down


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Counting(LoopbackHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        self.wakeups = 0
        super().__init__(("127.0.0.1", 0), _Hello)

    def service_actions(self) -> None:  # called once per turn of the loop
        self.wakeups += 1


def _get(port: int) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read()
    finally:
        conn.close()


def test_an_idle_listener_does_not_wake_and_shutdown_stops_it_at_once() -> None:
    server = _Counting()
    thread = serve_in_background(server, name="test-serving")
    try:
        port = server.server_address[1]
        assert _get(port) == b"hello"
        served = server.wakeups
        time.sleep(0.6)  # the stdlib loop, at the lab's former 50 ms, would have turned ~12 times
        assert server.wakeups - served <= 1
    finally:
        started = time.monotonic()
        shut_down(server, thread)
        took = time.monotonic() - started
    assert not thread.is_alive()
    assert took < 2.5, f"shutdown took {took:.2f} s: it waited for the 5 s idle wake instead of the pipe"


def test_a_server_serves_again_after_shutdown_and_a_shutdown_before_serving_is_honoured() -> None:
    server = _Counting()
    try:
        for _ in range(2):  # the first stop leaves a wake-up byte behind; the second loop must not spin on it
            thread = serve_in_background(server, name="test-serving")
            assert _get(server.server_address[1]) == b"hello"
            turns = server.wakeups
            time.sleep(0.3)
            assert server.wakeups - turns <= 1
            server.shutdown()
            thread.join(5)
            assert not thread.is_alive()
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        time.sleep(0.1)  # shutdown() has asked and now waits for a loop that has not started yet
        started = time.monotonic()
        thread = serve_in_background(server, name="test-serving")
        thread.join(5)
        stopper.join(5)
        assert not thread.is_alive() and not stopper.is_alive()
        assert time.monotonic() - started < 2.5, "a shutdown asked before the loop started waited for a wake"
    finally:
        server.server_close()
