"""How long concurrent clients wait to reach the lab's cloud stand-in (its listen backlog).

    python bench/cloud_backlog.py [--clients 100] [--backlog N] [--rounds 3]

Opens ``--clients`` TLS connections at once to the stand-in, each sending one Graph request, and reports the
median, 90th percentile and maximum time to the answer, and how many took a second or more (a SYN dropped by
a full backlog is retried after about 1 s). ``--backlog`` overrides the server's ``request_queue_size`` for
the run (default: the code's value).

Measured on the 2-core machine (2026-12-07), 100 clients: backlog 5 (socketserver's default) gave a p90 of
1.04-1.06 s and 33-45 clients at >= 1 s; 64 and 128 gave a maximum of 0.12 s and 0.09 s, none at >= 1 s.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import entra_standby.lab.cloud.server as cloud_server
from entra_standby.lab import Lab

ROOT = Path(__file__).resolve().parents[1]


def one_round(lab: Lab, clients: int) -> list[float]:
    assert lab.cloud is not None and lab.ca_path is not None
    url = urlsplit(lab.cloud.graph_url)
    host, port = str(url.hostname), int(url.port or 443)
    context = ssl.create_default_context(cafile=str(lab.ca_path))
    context.check_hostname = False
    times: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        t0 = time.monotonic()
        with socket.create_connection((host, port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname=host) as sock:
            sock.sendall(b"GET /v1.0/organization HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while sock.recv(65536):
                pass
        with lock:
            times.append(time.monotonic() - t0)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--backlog", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.backlog is not None:
        cloud_server._Server.request_queue_size = args.backlog
    backlog = cloud_server._Server.request_queue_size
    with Lab(ROOT / "fixtures" / "scenarios" / "healthy-pair.yml") as lab:
        for n in range(args.rounds):
            times = one_round(lab, args.clients)
            p90 = times[int(len(times) * 0.9)]
            slow = sum(t >= 1.0 for t in times)
            median = statistics.median(times)
            print(f"round {n + 1}: backlog {backlog}, {args.clients} clients: median {median:.3f} s, "
                  f"p90 {p90:.3f} s, max {times[-1]:.3f} s, >= 1 s: {slow}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
