"""A plain pypsrp client that knows nothing of entra_standby: it proves the lab is a real WinRM server.

Usage: python plain_client.py INVENTORY PROBES_DIR
       python plain_client.py INVENTORY --script TEXT

Reads only the inventory file, opens one runspace pool per server with the inventory's connection settings
(HTTPS, Negotiate, the lab CA), runs every ``*.ps1`` in PROBES_DIR and checks each answers one JSON document.
Prints one JSON line per server and exits 0 when every probe on every server answered JSON.

With ``--script`` it runs that one script on every server instead and prints, per server, what any PowerShell
client would see: the output objects, whether the pipeline failed, and the FullyQualifiedErrorId of each
error record. Exits 0.
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
    wsman = _wsman(host, port, connection)
    answers: dict[str, Any] = {}
    # The repository's scripts leave their helpers region empty: a client running them by hand dot-sources
    # the shared helpers first, in the same pipeline.
    helpers = scripts[0].parent / "helpers" / "common.ps1" if scripts else None
    with wsman, RunspacePool(wsman) as pool:
        for script in scripts:
            ps = PowerShell(pool)
            if helpers is not None and helpers.exists():
                ps.add_script(helpers.read_text(encoding="utf-8-sig")).add_statement()
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


def _wsman(host: str, port: int, connection: dict[str, Any]) -> WSMan:
    return WSMan(host, port=port, username=connection["username"], password=connection["password"],
                 ssl=bool(connection.get("ssl", True)), auth=connection.get("auth", "negotiate"),
                 cert_validation=connection.get("cert_validation", True), connection_timeout=10,
                 read_timeout=30, operation_timeout=20)


def run_one(host: str, port: int, connection: dict[str, Any], script: str) -> dict[str, Any]:
    with _wsman(host, port, connection) as wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_script(script)
        output = ps.invoke()
    return {"output": [o if isinstance(o, bool | int | float | type(None)) else str(o) for o in output],
            "had_errors": ps.had_errors, "errors": [e.fq_error for e in ps.streams.error]}


def _servers(inventory: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    found = []
    for pair in inventory["pairs"]:
        connection = dict(pair.get("connection") or {})
        for server in pair["servers"]:
            found.append((server, {**connection, **(server.get("connection") or {})}))
    return found


def main(argv: list[str]) -> int:
    inventory = yaml.safe_load(Path(argv[1]).read_text(encoding="utf-8"))
    if argv[2] == "--script":
        for server, settings in _servers(inventory):
            answer = run_one(server["host"], int(settings["port"]), settings, argv[3])
            line = {"host": server["host"], "role": server.get("role"), **answer}
            sys.stdout.write(json.dumps(line) + "\n")
        return 0
    scripts = sorted(Path(argv[2]).glob("*.ps1"))
    if not scripts:
        sys.stderr.write(f"no .ps1 files in {argv[2]}\n")
        return 2
    failures = 0
    for server, settings in _servers(inventory):
        answers = run_server(server["host"], int(settings["port"]), settings, scripts)
        failures += sum(1 for a in answers.values() if not a["json"])
        line = {"host": server["host"], "role": server.get("role"), "answers": answers}
        sys.stdout.write(json.dumps(line) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
