"""The failover drill: failover, prove, hold, failback, prove — on each pair of the inventory.

Opt-in: skipped unless `--drill` (it changes the servers) or `--drill-plan` (it prints the steps only).
"""

from collections.abc import Callable

import pytest

from entra_standby.drill.console import render_record
from entra_standby.drill.records import DrillRecord, RunOutcome


@pytest.mark.drill
def test_failover_drill(drill_run: Callable[[str], DrillRecord]) -> None:
    record = drill_run("drill")
    assert record.outcome is RunOutcome.PASSED, render_record(record)
    assert set(record.rto_s) == {"failover", "failback"}, render_record(record)
