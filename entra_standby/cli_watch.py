"""``entra-standby watch`` (a Prometheus endpoint) and ``entra-standby check`` (a Nagios/Icinga plugin).

Thin: each loads the inventory, drives ``entra_standby.watch`` and renders. ``check`` speaks plugin exit
codes only (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN): a bad argument or inventory is UNKNOWN with one line
on stdout, never the generic exit 2, which a monitor would read as CRITICAL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from .errors import EntraStandbyError

__all__ = ["register_watch_commands"]

DEFAULT_LISTEN = "127.0.0.1:9839"
DEFAULT_INTERVAL_S = 60.0


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def _inventory(path: Path, pairs: list[str] | None) -> Iterator[Any]:
    """The inventory's pairs; an inventory with ``lab:`` starts that lab for as long as the command runs."""
    from .inventory import load_inventory, with_lab_pairs

    inventory = load_inventory(path)
    if inventory.lab_scenario is None:
        yield inventory.select(pairs)
        return
    from .lab import Lab  # lazy: only a lab inventory imports the lab

    with Lab(str(inventory.lab_scenario)) as lab:
        yield with_lab_pairs(inventory, lab.inventory_dict()).select(pairs)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"{text} is out of range (0 < seconds < 86400)")
    return value


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected ADDRESS:PORT (e.g. {DEFAULT_LISTEN}), got {text!r}")
    return host, int(port)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inventory", required=True, type=Path, metavar="FILE", help="the inventory YAML")
    parser.add_argument("--pair", action="append", metavar="NAME", default=None,
                        help="only this pair (repeatable; default: every pair)")
    parser.add_argument("--deadline", type=_positive, default=None, metavar="SECONDS",
                        help="longest a poll of one pair may take (default: the audit's bound for the "
                             "pair's slowest server, connection.host_timeout + 2 s)")
    parser.add_argument("--prometheus-textfile", type=Path, default=None, metavar="PATH",
                        help="also write the metrics to PATH (ending in .prom) for node_exporter's textfile "
                             "collector, atomically")


# --- watch -----------------------------------------------------------------------------------------------


def _watch(args: argparse.Namespace) -> int:
    from .watch.metrics import WatchCollector, metrics_text, registry_for, write_textfile
    from .watch.server import MetricsServer
    from .watch.watcher import Watcher

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    with _inventory(args.inventory, args.pair) as inventory:
        textfile: Path | None = args.prometheus_textfile

        def on_view(_: Any) -> None:
            if textfile is not None:
                try:
                    write_textfile(textfile, registry)
                except EntraStandbyError as exc:
                    logging.getLogger("entra_standby.watch").error("%s", exc)

        watcher = Watcher(inventory, interval_s=args.interval, deadline_s=args.deadline, on_view=on_view)
        registry = registry_for(WatchCollector(watcher.views, watcher.pair_names))
        try:
            server = MetricsServer(args.listen, metrics=lambda: metrics_text(registry), health=watcher.health)
        except OSError as exc:
            where = f"{args.listen[0]}:{args.listen[1]}"
            raise EntraStandbyError(f"--listen {where}: cannot listen ({exc.strerror})",
                                    fix="choose a free port, or another address") from None
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            server.serve_in_background()
            watcher.start()
            _out(f"entra-standby watch: serving {server.url}/metrics and {server.url}/healthz; "
                 f"pairs {', '.join(watcher.pair_names)}; every {args.interval:g} s; Ctrl-C or SIGTERM stops")
            while not stop.wait(0.5):
                pass
            _out("entra-standby watch: stopping")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            watcher.stop()
            server.stop()
    return 0


# --- check -----------------------------------------------------------------------------------------------


def _read_state(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}  # memory only: an unreadable state starts afresh
    return raw if isinstance(raw, dict) else {}


def _write_state(path: Path, state: dict[str, Any]) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise EntraStandbyError(f"--state-file {path}: cannot write ({exc.strerror})",
                                fix="check the directory's permissions") from None


def _check(args: argparse.Namespace) -> int:
    from .watch.metrics import WatchCollector, registry_for, write_textfile
    from .watch.nagios import plugin_output
    from .watch.poll import HostGate, default_deadline, poll_pair
    from .watch.status import PairTracker, view_of

    try:
        with _inventory(args.inventory, args.pair) as inventory:
            saved = _read_state(args.state_file)
            gate = HostGate()
            # Pairs in parallel, so the whole run takes one deadline, not one per pair (a monitor's plugin
            # timeout, 60 s in Nagios by default, bounds all of it).
            with ThreadPoolExecutor(max_workers=max(1, len(inventory.pairs)),
                                    thread_name_prefix="check") as pool:
                polls = list(pool.map(lambda pair: poll_pair(
                    pair, gate=gate, deadline_s=args.deadline or default_deadline(pair)), inventory.pairs))
            views = []
            for pair, poll in zip(inventory.pairs, polls, strict=True):
                # Without a state file there is no earlier poll: nobody exporting is critical at once.
                tracker = (PairTracker.from_dict(saved.get(pair.name)) if args.state_file is not None
                           else PairTracker(no_exporter_critical_after=1))
                views.append(view_of(poll, tracker.update(poll.pair, poll.names)))
                saved[pair.name] = tracker.to_dict()
            if args.state_file is not None:
                _write_state(args.state_file, saved)
            if args.prometheus_textfile is not None:
                names = [v.name for v in views]
                write_textfile(args.prometheus_textfile, registry_for(WatchCollector(lambda: views, names)))
    except EntraStandbyError as exc:
        _out(f"ENTRA-STANDBY UNKNOWN - {' '.join(str(exc).split())}")
        return 3
    if args.checkmk_local:
        from .watch.nagios import checkmk_local_output

        _out(checkmk_local_output(views))
        return 0  # a Checkmk local check carries its state in the line; the agent ignores the exit code
    state, text = plugin_output(views, verbose=args.verbose)
    _out(text)
    return int(state)


def _unknown_usage(parser: argparse.ArgumentParser) -> Any:
    def error(message: str) -> NoReturn:
        _out(f"ENTRA-STANDBY UNKNOWN - {parser.prog}: {message}")
        raise SystemExit(3)

    return error


def register_watch_commands(subparsers: Any) -> None:
    watch = subparsers.add_parser(
        "watch", help="poll the pairs on an interval and serve Prometheus metrics",
        description="Poll every pair (each on its own, the light pair check) and serve the results as "
                    "Prometheus metrics on /metrics, with /healthz for the watcher. See docs/monitoring.md.")
    _common(watch)
    watch.add_argument("--listen", type=_listen, default=_listen(DEFAULT_LISTEN), metavar="ADDRESS:PORT",
                       help=f"where to serve (default {DEFAULT_LISTEN}: loopback only; port 0 picks a free "
                            "one)")
    watch.add_argument("--interval", type=_positive, default=DEFAULT_INTERVAL_S, metavar="SECONDS",
                       help="seconds between the starts of two polls of a pair "
                            f"(default {DEFAULT_INTERVAL_S:g})")
    watch.set_defaults(func=_watch)

    check = subparsers.add_parser(
        "check", help="poll once: a Nagios/Icinga/Checkmk plugin (exit 0/1/2/3, one status line)",
        description="Poll the pairs once and print one plugin status line with performance data; exit 0 OK, "
                    "1 WARNING, 2 CRITICAL, 3 UNKNOWN. See docs/monitoring.md.")
    _common(check)
    check.add_argument("--state-file", type=Path, default=None, metavar="PATH",
                       help="remember the pair between runs (needed to name transitions: nobody exporting on "
                            "two runs in a row, the previous active back un-staged after a failover)")
    check.add_argument("-v", "--verbose", action="store_true", help="one more line per problem (long output)")
    check.add_argument("--checkmk-local", action="store_true",
                       help="print Checkmk local-check lines (one service per pair), not the plugin line")
    check.error = _unknown_usage(check)
    check.set_defaults(func=_check)
