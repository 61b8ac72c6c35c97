"""Where one host's audit bytes go (issue 13): every request, plain vs sealed, and the batch's layers.

    python bench/wire_bytes.py [--transport http|https]

One host of an in-process lab runs the full audit; every request pypsrp sends is recorded twice: the plain
WS-Man envelope (before NTLM sealing) and the body that went on the wire. Then the CreatePipeline is taken
apart layer by layer: script text as shipped -> as sent (wire form) -> PSRP XML (escaping) -> fragments ->
base64 -> envelope -> sealed.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
from pathlib import Path
from typing import Any

import requests.adapters
from pypsrp.wsman import _TransportHTTP

from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab
from entra_standby.prepared import batch_statements, prepare_batch
from entra_standby.probes import helpers_script, without_helpers
from entra_standby.remoting import HostSession, probe_calls

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "fixtures" / "scenarios" / "healthy-pair.yml"
_ACTION = re.compile(rb"<(?:\w+:)?Action[^>]*>[^<]*/([A-Za-z]+)</")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transport", choices=("http", "https"), default="http")
    args = parser.parse_args()
    plain: list[bytes] = []
    wire: list[int] = []
    lock = threading.Lock()
    send_soap, send_http = _TransportHTTP.send, requests.adapters.HTTPAdapter.send

    def record_soap(self: Any, message: bytes, *a: Any, **k: Any) -> Any:
        with lock:
            plain.append(message)
        return send_soap(self, message, *a, **k)

    def record_http(self: Any, request: Any, *a: Any, **k: Any) -> Any:
        with lock:
            wire.append(len(request.body or b""))
        return send_http(self, request, *a, **k)

    _TransportHTTP.send = record_soap  # type: ignore[method-assign]
    requests.adapters.HTTPAdapter.send = record_http  # type: ignore[method-assign]
    try:
        with Lab(SCENARIO, cloud=False) as lab:
            raw = lab.inventory_dict()
            if args.transport == "http":
                for pair in raw["pairs"]:
                    pair["connection"]["ssl"] = False
                    for server, lab_server in zip(pair["servers"], lab.servers.values(), strict=True):
                        server.setdefault("connection", {})["port"] = lab_server.http_port
            inventory = inventory_from_dict(raw, path=ROOT / "lab.yml")
            calls = probe_calls()
            with HostSession(inventory.pairs[0].servers[0]) as session:
                outputs = session.run_probes(calls)
    finally:
        _TransportHTTP.send = send_soap  # type: ignore[method-assign]
        requests.adapters.HTTPAdapter.send = send_http  # type: ignore[method-assign]
    failed = [name for name, out in outputs.items() if not isinstance(out, str)]
    auth = len(wire) - len(plain)
    print(f"{len(wire)} requests ({auth} authentication only), {sum(wire) / 1024:.1f} KB on the wire, "
          f"{sum(len(p) for p in plain) / 1024:.1f} KB of plain WS-Man; failed probes: {failed or 'none'}")
    print(f"\n{'#':>2} {'action':<12} {'plain KB':>9} {'wire KB':>8}")
    bodies = wire[auth:]
    for n, (message, size) in enumerate(zip(plain, bodies, strict=False), 1):
        found = _ACTION.search(message)
        action = found.group(1).decode() if found else "?"
        print(f"{n:>2} {action:<12} {len(message) / 1024:>9.1f} {size / 1024:>8.1f}")
    statements = batch_statements(calls)
    text = sum(len(s.text.encode()) for s in statements)
    helpers = len(statements[1].text.encode())
    shipped = len(helpers_script().encode()) + sum(len((without_helpers(c.text) or c.text).encode())
                                                  for c in calls)
    prepared = prepare_batch(calls, "2.3", 2)
    newlines = sum(s.text.count("\n") for s in statements)
    print("\nthe CreatePipeline, layer by layer:")
    print(f"  script text as shipped (helpers once + {len(calls)} probe bodies, comments included): "
          f"{shipped / 1024:.1f} KB")
    print(f"  script text as sent (wire form, probes/wire.py: helpers {helpers / 1024:.1f} KB + "
          f"{len(calls)} probe bodies): {text / 1024:.1f} KB, {newlines} newlines")
    print(f"  PSRP XML (each newline escaped as _x000A_, 7 bytes): {len(prepared.xml) / 1024:.1f} KB "
          f"(+{(len(prepared.xml) - text) / 1024:.1f} KB, of which newlines {6 * newlines / 1024:.1f} KB)")
    b64 = 4 * ((len(prepared.xml) + 40 + 21 + 2) // 3)
    print(f"  + PSRP header and fragment header, base64: {b64 / 1024:.1f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
