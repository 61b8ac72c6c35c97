"""A simulated sync cycle: import and sync every connector, export only when not staging.

``Start-ADSyncSyncCycle`` returns at once (as on a real server) and the cycle runs in a background thread,
appending run-history rows as it goes. Staging is read at each export step, so a staging change takes effect
immediately, even in the middle of a cycle.
"""

from __future__ import annotations

import threading
import uuid
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

    def start(self, policy: str = "Delta") -> None:
        """Begin a cycle in the background; ``CycleAlreadyRunningError`` if one is running."""
        with self.state.lock:
            if self.state.sync_cycle_in_progress:
                raise CycleAlreadyRunningError(self.state.name)
            self.state.sync_cycle_in_progress = True
        thread = threading.Thread(
            target=self._run, args=(policy,), name=f"lab-cycle-{self.state.name}", daemon=True
        )
        self._thread = thread
        thread.start()

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self, policy: str) -> None:
        state, context = self.state, self.context
        try:
            with state.lock:
                steps = cycle_steps(state, policy, exports=True)
            pause = max(context.cycle_duration_s, 0.0) / max(len(steps), 1)
            for connector, profile in steps:
                if profile == "Export":
                    with state.lock:
                        if state.staging:  # staging suppresses exports, checked at the moment of export
                            continue
                if context.stopping.is_set() or not self._step(connector, profile, pause):
                    break
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
        with state.lock:
            state.busy_connectors = []
            run.end = utc_now()
            run.complete = True
            if interrupted or state.adsync_stopped:
                run.result = "stopped-server-down"
                return False
            run.result = self._finish(connector, profile)
        return True

    def _finish(self, connector: str, profile: str) -> str:
        """The run's result string; an export applies the connector's pending exports (called under lock)."""
        state = self.state
        if profile != "Export":
            return "success"
        pending = state.pending_exports.get(connector, PendingCounts(0, 0, 0))
        target = state.connector(connector)
        if target is not None and target.is_entra:
            threshold = state.deletion_threshold
            limit = threshold.get("threshold")
            if threshold.get("enabled") and limit is not None and pending.deletes > int(limit):
                return "stopped-deletion-threshold-exceeded"
            tenant = self.context.tenant
            if tenant is not None:
                tenant.record_export(state.name, utc_now(), self.context.directory.snapshot())
        state.pending_exports[connector] = PendingCounts(0, 0, 0)
        return "success"
