"""``entra-standby switch | failover | demote | unlock``: the switching engine from a terminal.

Thin: each parses its flags, builds ``DrillOptions`` and calls the engine; the exit code follows the
outcome (0 done, 1 refused, 3 rolled back, 4 MANUAL ACTION REQUIRED; 2 any other error). ``unlock``: 0
removed, 1 nothing removed.
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
                        help="where the per-pair drill locks live (default: "
                             "${XDG_STATE_HOME:-~/.local/state}/entra-standby/locks)")
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
        from .drill.report import write_reports

        paths = write_reports(record, report)
        _out(f"report written: {paths.junit} and {paths.audit}")
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


def _err(line: str) -> None:
    sys.stderr.write(f"entra-standby: {line}\n")
    sys.stderr.flush()


def _unlock(args: argparse.Namespace) -> int:
    """0 removed; 1 nothing removed (no such lock, or its run still runs here and --force was not given)."""
    from .drill.lock import (
        LockHolder,
        default_lock_dir,
        holder_state,
        list_locks,
        lock_path,
        read_lock,
        remove_lock,
        unreadable_locks,
    )
    from .errors import DrillError

    pair = args.pair
    path = lock_path(pair, args.lock_dir)
    directory = path.parent if args.lock_dir is not None else default_lock_dir()
    if not path.exists():
        others = [f"{h.pair} ({h.describe()})" for h in list_locks(args.lock_dir)]
        others += [f"{p.name} (unreadable lock file)" for p in unreadable_locks(args.lock_dir)]
        listed = ("; locked pairs there: " + "; ".join(others)) if others else "; no pair is locked there"
        _err(f"pair '{pair}' is not locked (no {path.name} in {directory}){listed}")
        return 1
    holder: LockHolder | None = None
    unreadable = ""
    try:
        holder = read_lock(pair, args.lock_dir)
    except DrillError as exc:
        unreadable = exc.reason
    if holder is None and not unreadable:  # released between our two looks
        _out(f"pair '{pair}' is not locked any more (its run finished meanwhile)")
        return 0
    if holder is not None and holder_state(holder) == "running":
        if not args.force:
            _err(f"pair '{pair}' is locked by a run that is still running on this host: {holder.describe()}. "
                 "Removing its lock would let a second run start on the pair while this one is switching "
                 "it, and two runs at once can leave both servers un-staged (fix: let it finish, or stop "
                 f"it (kill {holder.pid}), audit the pair, then unlock; --force removes the lock anyway)")
            return 1
        remove_lock(pair, args.lock_dir, token=holder.token)
        _out(f"WARNING: removed the drill lock of pair '{pair}' although its run still runs "
             f"({holder.describe()}): it may still be changing the servers; start no other run on the pair "
             "until it has ended")
        return 0
    if holder is None:
        remove_lock(pair, args.lock_dir)
        _out(f"removed the unreadable drill lock of pair '{pair}' ({unreadable}); a run may have died while "
             "taking it: audit the pair before the next run")
        return 0
    remove_lock(pair, args.lock_dir, token=holder.token)
    elsewhere = "" if holder_state(holder) == "gone" else (
        f"; it was taken on {holder.hostname}, where this host cannot tell whether it still runs")
    _out(f"removed the drill lock of pair '{pair}' (it was held by {holder.describe()}){elsewhere}")
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

    unlock = subparsers.add_parser(
        "unlock", help="remove a pair's drill lock (after checking the pair)",
        description="Remove the lock that keeps two runs off one pair. A run that crashed, was killed or "
                    "ended in MANUAL ACTION REQUIRED leaves it behind on purpose: audit the pair first. "
                    "Exit 0: removed; 1: nothing removed (no such lock, or its run still runs here).")
    _common(unlock, plan=False)
    unlock.add_argument("--force", action="store_true",
                        help="remove it even though the run holding it still runs on this host")
    unlock.set_defaults(func=_unlock)
