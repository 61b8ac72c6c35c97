"""A simulated sync cycle: import and sync every connector, export only when not staging.

``Start-ADSyncSyncCycle`` returns at once (as on a real server) and the cycle runs in a background thread,
appending run-history rows as it goes. Staging is read at each export step, so a staging change takes effect
immediately, even in the middle of a cycle.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from .context import LabContext
from .state import PendingCounts, Run, ServerState, cycle_steps
from .timefmt import utc_now


class CycleAlreadyRunningError(Exception):
    """Start-ADSyncSyncCycle while a cycle runs."""

    def __init__(self, server: str) -> None:
        super().__init__(
            f"Sync is already running. Wait for the current sync cycle on {server.upper()} to finish "
            "(Get-ADSyncScheduler shows SyncCycleInProgress) and try again."
        )


class SyncCycleRunner:
    """Runs at most one cycle at a time for one server."""

    def __init__(self, state: ServerState, context: LabContext) -> None:
        self.state = state
        self.context = context
        self._thread: threading.Thread | None = None

    def start(self, policy: str = "Delta", *, only_if: Callable[[], bool] | None = None) -> bool:
        """Begin a cycle in the background; ``CycleAlreadyRunningError`` if one is running.

        ``only_if`` is checked under the server's lock together with the start (the scheduler's own
        conditions); False from it means no cycle was started.
        """
        with self.state.lock:
            if only_if is not None and not only_if():
                return False
            if self.state.sync_cycle_in_progress:
                raise CycleAlreadyRunningError(self.state.name)
            self.state.sync_cycle_in_progress = True
        thread = threading.Thread(
            target=self._run, args=(policy,), name=f"lab-cycle-{self.state.name}", daemon=True
        )
        self._thread = thread
        thread.start()
        return True

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self, policy: str) -> None:
        state, context = self.state, self.context
        began = utc_now()
        try:
            with state.lock:
                steps = cycle_steps(state, policy, exports=True)
            pause = max(context.cycle_duration_s, 0.0) / max(len(steps), 1)
            completed = True
            for connector, profile in steps:
                if profile == "Export":
                    with state.lock:
                        if state.staging:  # staging suppresses exports, checked at the moment of export
                            continue
                if context.stopping.is_set() or not self._step(connector, profile, pause):
                    completed = False
                    break
            if completed:
                with state.lock:
                    # The full steps ran: the overrides are spent (Microsoft's upgrade page: removed once
                    # they ran successfully).
                    state.connector_overrides.clear()
                    if state.export_result is None:  # a cycle that could not export reached no one
                        state.cycle_completed(began, utc_now())
        finally:
            with state.lock:
                state.sync_cycle_in_progress = False
                state.busy_connectors = []
                state.scheduler.next_policy_type = "Delta"
                state.scheduler.next_start = utc_now() + timedelta(
                    seconds=state.scheduler.effective_interval_s
                )

    def _step(self, connector: str, profile: str, pause: float) -> bool:
        """Run one run profile; False when the cycle must stop (service stopped, lab closing)."""
        state = self.state
        run = Run(
            run_history_id=str(uuid.uuid4()),
            connector=connector,
            profile=profile,
            result="in-progress",
            start=utc_now(),
            end=None,
            complete=False,
        )
        with state.lock:
            state.runs.append(run)
            state.busy_connectors = [connector]
        interrupted = self.context.stopping.wait(pause)
        while not interrupted and self._held():  # the cycle_never_ends fault: this run stays in progress
            interrupted = self.context.stopping.wait(0.05)
        with state.lock:
            state.busy_connectors = []
            run.end = utc_now()
            run.complete = True
            if interrupted or state.adsync_stopped:
                run.result = "stopped-server-down"
                return False
            run.result = self._finish(connector, profile)
        return True

    def _held(self) -> bool:
        with self.state.lock:
            return self.state.cycle_never_ends

    def _finish(self, connector: str, profile: str) -> str:
        """The run's result string; an export applies the connector's pending exports (called under lock).

        An AD import takes in the on-premises directory as it is now: an export later carries what was
        imported, so a canary written after the import waits for the next cycle, as on a real server.
        """
        state = self.state
        target = state.connector(connector)
        if profile.endswith("Import") and target is not None and not target.is_entra:
            state.imported_directory = self.context.directory.snapshot()
        if profile != "Export":
            return "success"
        if state.export_result is not None:  # the export_result fault: the run stops, nothing is written
            return state.export_result
        pending = state.pending_exports.get(connector, PendingCounts(0, 0, 0))
        if target is not None and target.is_entra:
            threshold = state.deletion_threshold
            limit = threshold.get("threshold")
            if threshold.get("enabled") and limit is not None and pending.deletes > int(limit):
                return "stopped-deletion-threshold-exceeded"
            tenant = self.context.tenant
            if tenant is not None:
                tenant.record_export(state.name, utc_now(), state.imported_directory)
        state.pending_exports[connector] = PendingCounts(0, 0, 0)
        return "success"


class AutoScheduler:
    """The servers' own sync scheduler, scaled down (the scenario's ``lab.auto_cycle_interval_s``).

    Every ``interval_s`` each server starts a cycle of its next policy type by itself, as the real scheduler
    does every effective interval, but only while the (tenant-wide) SyncCycleEnabled is on, its scheduler is
    not suspended (an open wizard, an upgrade) and the ADSync service runs. So a drill that forgets to turn
    the schedule off meets a cycle it did not start.
    """

    def __init__(self, runners: list[SyncCycleRunner], interval_s: float, stopping: threading.Event) -> None:
        self.runners = runners
        self.interval_s = max(interval_s, 0.05)
        self.stopping = stopping
        self.started_cycles = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="lab-scheduler", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        due = {id(runner): time.monotonic() + self.interval_s for runner in self.runners}
        while not self.stopping.wait(min(0.05, self.interval_s / 4)):
            now = time.monotonic()
            for runner in self.runners:
                if now < due[id(runner)]:
                    continue
                due[id(runner)] = now + self.interval_s
                state = runner.state

                def ready(state: ServerState = state) -> bool:
                    s = state.scheduler
                    return (s.sync_cycle_enabled and not s.scheduler_suspended and not state.adsync_stopped
                            and state.service.status == "Running")

                try:
                    with state.lock:
                        policy = state.scheduler.next_policy_type
                    if runner.start(policy, only_if=ready):
                        self.started_cycles += 1
                except CycleAlreadyRunningError:
                    pass  # the real scheduler skips a tick while a cycle runs
