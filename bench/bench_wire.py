"""Bench the lab's wire: one runspace pool running 10 scripts, as the audit does per host.

Plain script (not a test): ``python bench/bench_wire.py [--repeats N]``. For basic/https and
negotiate/http (NTLM + message encryption), at 0 and 20 ms injected server latency, prints the number of
HTTP requests (counted by the server, handshakes included) and the median wall time (min-max).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from entra_standby.lab.engine import Invocation, PipelineResult
from entra_standby.lab.pki import create_lab_pki
from entra_standby.lab.wire import LabCredentials, WSManServer

CREDS = LabCredentials(username="bench", password="Bench-Passw0rd!", domain="LAB")
SCRIPTS = 10


class EchoEngine:
    """Answers every pipeline with one short string (the bench measures the wire, not the engine)."""

    def invoke(self, invocation: Invocation, cancel: threading.Event) -> PipelineResult:
        return PipelineResult(outputs=[f"answer to {len(invocation.commands)} command(s)"])


def one_run(server: WSManServer, https: bool, auth: str, ca: Path) -> tuple[int, float]:
    port = server.https_port if https else server.http_port
    server.counters.reset()
    started = time.perf_counter()
    validation: Any = str(ca) if https else False  # requests' verify: a CA bundle path or False
    transport = WSMan(server.bind_address, port=port, username="LAB\\bench", password=CREDS.password,
                      ssl=https, auth=auth, cert_validation=validation, connection_timeout=5)
    with transport, RunspacePool(transport) as pool:
        for i in range(SCRIPTS):
            ps = PowerShell(pool)
            ps.add_script(f"# script {i}\nWrite-Output {i}")
            if not ps.invoke():
                raise RuntimeError("no output")
    elapsed = time.perf_counter() - started
    return int(server.counters.snapshot()["total"]), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tls = create_lab_pki(Path(tmp), ["127.0.0.1"])
        server = WSManServer(EchoEngine(), name="bench", credentials=CREDS, tls=tls)
        with server:
            print(f"one pool + {SCRIPTS} scripts, {args.repeats} repeats, median (min-max)")
            print(f"{'latency':>8} | {'auth / transport':<24} | {'requests':>8} | wall time")
            for latency in (0, 20):
                server.faults.latency_ms = latency
                for label, https, auth in (("basic / https", True, "basic"),
                                           ("negotiate+enc / http", False, "negotiate")):
                    one_run(server, https, auth, tls.ca_pem)  # warm-up (imports, first TLS handshake)
                    runs = [one_run(server, https, auth, tls.ca_pem) for _ in range(args.repeats)]
                    counts = sorted({count for count, _ in runs})
                    times = [t for _, t in runs]
                    print(f"{latency:>6}ms | {label:<24} | {'/'.join(map(str, counts)):>8} | "
                          f"{statistics.median(times):.3f} s ({min(times):.3f}-{max(times):.3f})")


if __name__ == "__main__":
    main()
