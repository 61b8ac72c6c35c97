"""``entra-standby switch | failover | demote | unlock``: the switching engine from a terminal.

Thin: each parses its flags, builds ``DrillOptions`` and calls the engine; the exit code follows the
outcome (0 done, 1 refused, 3 rolled back, 4 MANUAL ACTION REQUIRED; 2 any other error).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register_drill_commands"]


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _common(parser: argparse.ArgumentParser, *, plan: bool = True) -> None:
    if plan:
        parser.add_argument("--inventory", required=True, type=Path, metavar="FILE",
                            help="the inventory YAML")
    parser.add_argument("--pair", required=True, metavar="NAME", help="the pair to act on")
    parser.add_argument("--lock-dir", type=Path, default=None, metavar="DIR",
                        help="where the per-pair drill locks live")
    if plan:
        parser.add_argument("--plan", action="store_true",
                            help="print every step per server and change nothing (no connection is made)")
        parser.add_argument("--no-cloud-verify", action="store_true",
                            help="allow it without a cloud: block (proof by run history only)")
        parser.add_argument("--standby", metavar="HOST", default=None,
                            help="the standby that takes over (default: the pair's only standby)")
        parser.add_argument("--report", type=Path, metavar="DIR", default=None,
                            help="write the JUnit file and the JSON audit log under DIR")


def _load(args: argparse.Namespace) -> Any:
    from .inventory import load_inventory

    inventory = load_inventory(args.inventory)
    if inventory.lab_scenario is not None:
        from .errors import DrillError

        raise DrillError(f"{args.inventory}: this inventory starts its own lab (lab:), which would be gone "
                         "before the switch could matter",
                         fix="serve the lab with `entra-standby lab serve SCENARIO --write-inventory FILE` "
                             "and use that FILE")
    return inventory


def _run(args: argparse.Namespace, kind: str, **extra: Any) -> int:
    from .drill.console import EXIT_CODES, TerminalOperator, render_record
    from .drill.engine import DrillOptions, _pair, execute
    from .drill.plan import render_plan

    inventory = _load(args)
    pair = _pair(inventory, args.pair)
    if getattr(args, "plan", False):
        _out(render_plan(pair, kind, standby=getattr(args, "standby", None),
                         confirm_isolated=extra.get("confirm_isolated"),
                         demote_server=extra.get("demote_server")))
        return 0
    options = DrillOptions(standby=getattr(args, "standby", None),
                           no_cloud_verify=getattr(args, "no_cloud_verify", False),
                           lock_dir=args.lock_dir, progress=_out, operator=TerminalOperator(_out),
                           command="entra-standby " + " ".join(sys.argv[1:2]) + f" --pair {args.pair}",
                           **extra)
    record = execute(inventory, args.pair, kind, options)
    _out(render_record(record))
    for warning in options.warnings:
        _out(warning)
    report = getattr(args, "report", None)
    if report is not None:
        from .drill.report import write_audit_log, write_junit

        report.mkdir(parents=True, exist_ok=True)
        stamp = record.started_utc.strftime("%Y%m%dT%H%M%SZ")
        write_junit(record, report / f"{kind}-{args.pair}-{stamp}.xml")
        write_audit_log(record, report / f"{kind}-{args.pair}-{stamp}.json")
        _out(f"report written under {report}")
    return EXIT_CODES[record.outcome]


def _switch(args: argparse.Namespace) -> int:
    code = _run(args, "switch")
    return code


def _failover(args: argparse.Namespace) -> int:
    from .errors import DrillError

    if not args.active_down:
        raise DrillError("failover without --active-down is a planned switch",
                         fix=f"use `entra-standby switch --inventory {args.inventory} --pair {args.pair}`, "
                             "or "
                             "pass --active-down when the active server is unreachable")
    return _run(args, "failover", confirm_isolated=args.confirm_isolated)


def _demote(args: argparse.Namespace) -> int:
    return _run(args, "demote", demote_server=args.server, allow_zero_active=args.allow_zero_active)


def _unlock(args: argparse.Namespace) -> int:
    from .drill.lock import read_lock, remove_lock

    holder = read_lock(args.pair, args.lock_dir)
    if holder is None:
        _out(f"pair {args.pair} is not locked")
        return 0
    remove_lock(args.pair, args.lock_dir)
    _out(f"removed the drill lock of {args.pair} (it was held by {holder.describe()})")
    return 0


def register_drill_commands(subparsers: Any) -> None:
    switch = subparsers.add_parser(
        "switch", help="planned switch: the standby takes over (no failback); CHANGES the servers",
        description="Stage the active, un-stage the standby, prove exports (run history and cloud). For "
                    "patching or replacing the active. At the end it prints the inventory change to make.")
    _common(switch)
    switch.set_defaults(func=_switch)

    failover = subparsers.add_parser(
        "failover", help="emergency failover when the active is unreachable; CHANGES the standby",
        description="Un-stage the standby while the active is down. Allowed only when the active is "
                    "unreachable at the network level and you confirm it is shut down or cut off.")
    _common(failover)
    failover.add_argument("--active-down", action="store_true", help="the active server is unreachable")
    failover.add_argument("--confirm-isolated", metavar="HOST", default=None,
                          help="your confirmation that HOST (the old active) is shut down or isolated")
    failover.set_defaults(func=_failover)

    demote = subparsers.add_parser(
        "demote", help="stage one server (e.g. the old active coming back); CHANGES that server")
    _common(demote)
    demote.add_argument("--server", required=True, metavar="HOST", help="the server to stage")
    demote.add_argument("--allow-zero-active", action="store_true",
                        help="stage it even when no other server exports (nothing will export)")
    demote.set_defaults(func=_demote)

    unlock = subparsers.add_parser("unlock", help="remove a pair's drill lock (after checking the pair)")
    _common(unlock, plan=False)
    unlock.set_defaults(func=_unlock)
