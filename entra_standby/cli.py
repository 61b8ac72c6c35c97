"""Command line: ``entra-standby <command> ...``.

Commands are argparse sub-parsers registered in ``COMMANDS``; add one by writing a ``register(subparsers)``
function that sets ``func`` (returning the exit code) on its parser. Errors of entra-standby become one line
on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from .errors import EntraStandbyError


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- lab serve -------------------------------------------------------------------------------------------


def _lab_serve(args: argparse.Namespace) -> int:
    from .lab.lab import Lab  # lazy: the lab is never imported by other commands

    if args.pairs is not None:
        return _lab_serve_fleet(args)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Lab(args.scenario, directory=args.directory) as lab:
            inventory = lab.write_inventory(args.write_inventory)
            _describe(lab, inventory)
            while not stop.wait(0.5):
                pass
            _out("stopping the lab; HTTP requests served:")
            for server in lab.servers.values():
                counts = server.counters.snapshot()
                actions = ", ".join(f"{a} {n}" for a, n in sorted(counts["by_action"].items()))
                _out(f"  {server.name:<8} {counts['total']} ({actions or 'none'})")
            _describe_directory_requests(lab)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _lab_serve_fleet(args: argparse.Namespace) -> int:
    """``lab serve --pairs N``: N pairs of one scenario, optionally over several processes."""
    from .lab.fleet import Fleet
    from .lab.lab import write_private_inventory

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Fleet(args.scenario, pairs=args.pairs, processes=args.processes, latency_ms=args.latency_ms,
                   transport=args.transport, first_pair=args.first_pair) as fleet:
            target = write_private_inventory(
                args.write_inventory, fleet.inventory_dict(),
                "# entra-standby lab inventory (fleet): holds the lab passwords; valid while served")
            _out(f"entra-standby lab fleet: {args.pairs} pair(s) of {args.scenario} in {fleet.processes} "
                 f"process(es); Ctrl-C or SIGTERM stops it")
            _out(f"  inventory: {target}")
            python = shlex.quote(sys.executable)  # this interpreter's pytest, with this plugin
            _out(f"run the checks:  {python} -m pytest --inventory {shlex.quote(str(target))}")
            while not stop.wait(0.5):
                pass
            counts = fleet.request_counts()
            if counts:
                _out(f"stopping the fleet; HTTP requests served: {sum(counts.values())} "
                     f"over {len(counts)} servers")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _describe_directory_requests(lab: Any) -> None:
    counters = getattr(lab.dc, "counters", None)  # the embedded directory counts; a real DC does not
    if counters is not None:
        counts = counters.snapshot()
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()) if k != "total")
        _out(f"  directory LDAP requests: {counts['total']} ({kinds or 'none'})")


def _describe(lab: Any, inventory: Path) -> None:
    """How to connect. The password is never printed: it is in the inventory file (mode 0600)."""
    scenario = lab.scenario
    _out(f"entra-standby lab '{scenario.name}' is serving ({scenario.source}); Ctrl-C or SIGTERM stops it")
    for server in lab.servers.values():
        state = "staging" if server.state.staging else "exporting"
        _out(
            f"  {server.name:<8} {server.role:<8} {state:<9} https://{server.address}:{server.https_port}/wsman"
            f"  (http {server.http_port})"
        )
    _out(f"  username:  {lab.credentials.username}  (password: see the inventory file)")
    _out(f"  CA:        {lab.ca_path}")
    if lab.cloud is not None:
        _out(
            f"  cloud:     {lab.cloud.graph_url}  tenant {lab.cloud.tenant_id}  client {lab.cloud.client_id}"
        )
    if lab.dc is not None:
        block = lab.dc.inventory_block()
        where = f"{block.get('transport', 'ldap')}://{block['servers'][0]}:{block.get('port', 389)}"
        _out(f"  directory: {lab.directory_mode} {where}  {block['domain']}  reader {block.get('username')} "
             f"(auth {block.get('auth', 'kerberos')}; password: see the inventory file)")
    _out(f"  inventory: {inventory}")
    # This interpreter's pytest: a bare `pytest` may be another installation's, without this plugin.
    python = shlex.quote(sys.executable)
    _out(f"run the checks:  {python} -m pytest --inventory {shlex.quote(str(inventory))}")
    _out("  (from any directory: with no test path the plugin runs the readiness checks; the run is "
         "announced as TARGET: LAB)")


def register_lab(subparsers: Any) -> None:
    lab = subparsers.add_parser("lab", help="the simulated Entra Connect HA pair")
    lab_commands = lab.add_subparsers(dest="lab_command", required=True)
    serve = lab_commands.add_parser(
        "serve",
        help="serve a scenario until Ctrl-C/SIGTERM",
        description="Start the simulated pair of SCENARIO, write an inventory for "
        "it and serve until interrupted.",
    )
    serve.add_argument(
        "scenario", metavar="SCENARIO", help="scenario file, e.g. fixtures/scenarios/healthy-pair.yml"
    )
    serve.add_argument(
        "--write-inventory",
        metavar="PATH",
        required=True,
        type=Path,
        help="where to write the inventory (it holds the lab password; mode 0600)",
    )
    serve.add_argument("--pairs", type=int, metavar="N",
                       help="serve N pairs of SCENARIO (a fleet), each on its own addresses; the inventory "
                            "lists them all (issue 13)")
    serve.add_argument("--processes", type=int, default=1, metavar="K",
                       help="with --pairs: spread the pairs over K processes (default 1)")
    serve.add_argument("--latency-ms", type=int, metavar="MS",
                       help="with --pairs: inject MS of latency per request on every server")
    serve.add_argument("--transport", choices=("https", "http"), default="https",
                       help="with --pairs: the listeners the inventory names (http: NTLM + encryption)")
    serve.add_argument("--first-pair", type=int, default=0, help=argparse.SUPPRESS)  # a fleet's child
    serve.add_argument("--directory", choices=("embedded", "samba", "none"), default="embedded",
                       help="the pair's domain controller: embedded (default: an LDAP endpoint on loopback "
                            "serving the scenario's accounts and rights; the inventory gets a directory: "
                            "block), samba (a real Samba AD DC seeded from the scenario; needs root and "
                            "scripts/install-samba) or none (the sync servers' own AD reads are judged); a "
                            "fleet (--pairs) has none")
    serve.set_defaults(func=_lab_serve)


# --- probe show ------------------------------------------------------------------------------------------


def _probe_show(args: argparse.Namespace) -> int:
    from .probes import load_action, load_probe

    script = load_action(args.name) if args.action else load_probe(args.name)
    text = script.text
    if args.as_sent and not args.action:  # actions travel as shipped
        from .prepared import batch_statements
        from .remoting import ProbeCall

        text = batch_statements([ProbeCall(script.name, script.text)])[-1].text
    sys.stdout.write(text)
    return 0


def register_probe(subparsers: Any) -> None:
    probe = subparsers.add_parser("probe", help="the PowerShell probes and actions the harness sends")
    probe_commands = probe.add_subparsers(dest="probe_command", required=True)
    show = probe_commands.add_parser(
        "show",
        help="print the complete script as shipped (or, with --as-sent, as it travels in the audit)",
        description="Print a probe (or, with --action, an action) as shipped, helpers included: save it as "
        "NAME.ps1 to run it by hand in Windows PowerShell 5.1 on the server. With --as-sent, print exactly "
        "the text that travels for the probe in the audit batch: without comments, blank lines and "
        "indentation (docs/contracts.md, 'What travels') and without the helpers, which the batch sends once "
        "before the probes (a server's script-block log shows these texts; line numbers in its errors refer "
        "to them).",
    )
    show.add_argument("name", metavar="NAME", help="a probe (e.g. scheduler), or with --action an action")
    show.add_argument("--action", action="store_true", help="NAME is an action (set-staging, ...)")
    show.add_argument("--as-sent", action="store_true",
                      help="the probe's text exactly as the audit batch sends it (actions travel as shipped)")
    show.set_defaults(func=_probe_show)


def register_drill(subparsers: Any) -> None:
    from .cli_drill import register_drill_commands

    register_drill_commands(subparsers)


def register_watch(subparsers: Any) -> None:
    from .cli_watch import register_watch_commands

    register_watch_commands(subparsers)


COMMANDS: list[Callable[[Any], None]] = [register_lab, register_probe, register_drill, register_watch]
"""Each adds its sub-parser(s); keep the order stable, it is the order of --help."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="entra-standby", description="Prove an Entra Connect staging-mode standby is ready."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except EntraStandbyError as error:
        sys.stderr.write(f"entra-standby: {error}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
