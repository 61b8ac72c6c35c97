"""A plain pypsrp client that knows nothing of entra_standby: it proves the lab is a real WinRM server.

Usage: python plain_client.py INVENTORY PROBES_DIR

Reads only the inventory file, opens one runspace pool per server with the inventory's connection settings
(HTTPS, Negotiate, the lab CA), runs every ``*.ps1`` in PROBES_DIR and checks each answers one JSON document.
Prints one JSON line per server and exits 0 when every probe on every server answered JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan


def run_server(host: str, port: int, connection: dict[str, Any], scripts: list[Path]) -> dict[str, Any]:
    wsman = WSMan(
        host,
        port=port,
        username=connection["username"],
        password=connection["password"],
        ssl=bool(connection.get("ssl", True)),
        auth=connection.get("auth", "negotiate"),
        cert_validation=connection.get("cert_validation", True),
        connection_timeout=10,
        read_timeout=30,
        operation_timeout=20,
    )
    answers: dict[str, Any] = {}
    with wsman, RunspacePool(wsman) as pool:
        for script in scripts:
            ps = PowerShell(pool)
            ps.add_script(script.read_text(encoding="utf-8-sig"))
            output = ps.invoke()
            try:
                document = json.loads(str(output[0])) if len(output) == 1 and not ps.had_errors else None
            except ValueError:
                document = None
            answers[script.stem] = {
                "json": document is not None,
                "probe": document.get("probe") if document else None,
                "ok": document.get("ok") if document else None,
            }
    return answers


def main(argv: list[str]) -> int:
    inventory = yaml.safe_load(Path(argv[1]).read_text(encoding="utf-8"))
    scripts = sorted(Path(argv[2]).glob("*.ps1"))
    if not scripts:
        sys.stderr.write(f"no .ps1 files in {argv[2]}\n")
        return 2
    failures = 0
    for pair in inventory["pairs"]:
        connection = dict(pair.get("connection") or {})
        for server in pair["servers"]:
            settings = {**connection, **(server.get("connection") or {})}
            answers = run_server(server["host"], int(settings["port"]), settings, scripts)
            failures += sum(1 for a in answers.values() if not a["json"])
            sys.stdout.write(
                json.dumps({"host": server["host"], "role": server.get("role"), "answers": answers}) + "\n"
            )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
