"""The drill's pytest front door: ``--drill``, ``--drill-plan``, ``--ignore-maintenance-window``,
``--drill-report DIR``, ``--no-cloud-verify`` and the ``drill_run`` fixture ``checks/drills/`` uses.

The drill changes production servers, so it is opt-in twice: a test marked ``drill`` is skipped, with the
reason, unless ``--drill`` (or ``--drill-plan``, which only prints) is given. The test itself stays thin: it
asks the engine to run and asserts on the record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["add_drill_options", "drill_run", "drill_summary", "register_drill_marker"]

_SKIP_REASON = ("the failover drill changes production servers: run it with --drill in a maintenance window "
                "(or --drill-plan to print its steps without changing anything)")
_PLANS = pytest.StashKey[list[str]]()


def add_drill_options(group: Any) -> None:
    group.addoption("--drill", dest="entra_drill", action="store_true", default=False,
                    help="run the failover drill tests (checks/drills/): they CHANGE the servers")
    group.addoption("--drill-plan", dest="entra_drill_plan", action="store_true", default=False,
                    help="print every step the drill would take, per server, and change nothing")
    group.addoption("--ignore-maintenance-window", dest="entra_ignore_window", action="store_true",
                    default=False, help="run the drill outside the pair's maintenance windows (warns)")
    group.addoption("--drill-report", dest="entra_drill_report", metavar="DIR", default=None,
                    help="write the drill's JUnit file and JSON audit log under DIR")
    group.addoption("--no-cloud-verify", dest="entra_no_cloud_verify", action="store_true", default=False,
                    help="allow a drill without a cloud: block (proof by run history only; warns)")
    group.addoption("--drill-lock-dir", dest="entra_drill_lock_dir", metavar="DIR", default=None,
                    help="where the per-pair drill locks live (default: ~/.local/state/entra-standby/locks)")


def register_drill_marker(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "drill: a failover drill; runs only with --drill (changes servers)")
    config.stash[_PLANS] = []


@contextlib.contextmanager
def _visible(config: pytest.Config) -> Iterator[Callable[[str], None]]:
    """Write to the terminal even while pytest captures output (progress must show while it waits)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if reporter is None:
            return
        context = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
        with context:
            reporter.write_line(line)

    yield write


@pytest.fixture
def drill_run(request: pytest.FixtureRequest, _entra_target: Any) -> Callable[[str], Any]:
    """``drill_run("drill")`` runs the engine on this test's pair and returns its ``DrillRecord``."""
    from .drill.console import render_record
    from .drill.engine import DrillOptions, execute
    from .drill.plan import render_plan

    config = request.config
    run = config.stash.get(_RUN_KEY_LOOKUP(), None)
    if not (config.getoption("entra_drill") or config.getoption("entra_drill_plan")):
        pytest.skip(_SKIP_REASON)
    if run is None or run.inventory is None:
        pytest.skip("the drill needs --inventory (it cannot run from --replay evidence)")
    inventory = run.inventory
    pair_name = _entra_target.pair

    def go(kind: str) -> Any:
        pair = next(p for p in inventory.pairs if p.name == pair_name)
        if config.getoption("entra_drill_plan"):
            config.stash[_PLANS].append(render_plan(pair, kind))
            pytest.skip("--drill-plan: the plan is printed in the summary; nothing was changed")
        with _visible(config) as write:
            options = DrillOptions(
                ignore_window=config.getoption("entra_ignore_window"),
                no_cloud_verify=config.getoption("entra_no_cloud_verify"),
                lock_dir=Path(config.getoption("entra_drill_lock_dir"))
                if config.getoption("entra_drill_lock_dir") else None,
                progress=lambda text: write(f"  drill {pair_name}: {text}"),
                operator=None,
                command=f"pytest --drill ({pair_name})",
            )
            record = execute(inventory, pair_name, kind, options)
            for warning in options.warnings:
                write(f"  drill {pair_name}: {warning}")
            report_dir = config.getoption("entra_drill_report")
            if report_dir:
                from .drill.report import write_audit_log, write_junit

                directory = Path(report_dir)
                directory.mkdir(parents=True, exist_ok=True)
                stamp = record.started_utc.strftime("%Y%m%dT%H%M%SZ")
                write_junit(record, directory / f"drill-{pair_name}-{stamp}.xml")
                write_audit_log(record, directory / f"drill-{pair_name}-{stamp}.json")
            write(render_record(record))
        return record

    return go


def drill_summary(terminalreporter: Any, config: pytest.Config) -> None:
    plans = config.stash.get(_PLANS, [])
    if plans:
        terminalreporter.section("entra-standby drill plan (nothing was changed)")
        for plan in plans:
            for line in plan.splitlines():
                terminalreporter.write_line(line)


def _RUN_KEY_LOOKUP() -> Any:
    from .plugin import _RUN_KEY

    return _RUN_KEY
