"""The Entra Connect wizard's "Configure staging mode" task, played from Python (tests play the operator).

What the wizard does that matters to a drill ([SCHED] how-to-connect-sync-feature-scheduler: "Starting the
Entra Connect wizard suspends the scheduler temporarily"; [SCHED]: "When a sync cycle is running, you can't
make configuration changes"; reference §1.2: at the end it asks whether to start sync):

- opening it suspends that server's scheduler (``SchedulerSuspended=True``) until it closes;
- it refuses to open while a cycle runs on that server;
- the staging flag changes through the lab's staging log (``lab.max_unstaged_at_once()`` sees it);
- closing resumes the scheduler and optionally starts a cycle.
"""

from __future__ import annotations

import time
from types import TracebackType

from ..errors import LabError
from .context import LabContext
from .cycle import SyncCycleRunner
from .state import ServerState


class WizardRefusedError(LabError):
    """The wizard will not open (a cycle runs, another wizard session is open) or was used out of order."""


class Wizard:
    """One wizard session on one server: ``with lab.wizard("aadc02") as w: w.set_staging(False)``."""

    def __init__(self, state: ServerState, context: LabContext, cycle: SyncCycleRunner) -> None:
        self.state = state
        self.context = context
        self.cycle = cycle
        self.is_open = False
        self._was_suspended = False

    def open(self) -> None:
        with self.state.lock:
            if self.is_open:
                raise WizardRefusedError(f"{self.state.name}: the wizard is already open")
            if self.state.sync_cycle_in_progress:
                raise WizardRefusedError(
                    f"{self.state.name}: a synchronization cycle is in progress; the wizard cannot make "
                    "configuration changes until it finishes")
            self._was_suspended = self.state.scheduler.scheduler_suspended
            self.state.scheduler.scheduler_suspended = True
            self.is_open = True

    def set_staging(self, enabled: bool) -> None:
        """The "Configure staging mode" page: tick or clear "Enable staging mode"."""
        if not self.is_open:
            raise WizardRefusedError(f"{self.state.name}: open the wizard first")
        self.context.staging_log.record(self.state, enabled)

    def close(self, *, start_sync: bool = False, policy: str = "Delta") -> None:
        """Finish: the scheduler resumes (as it was before the wizard), then optionally a cycle starts."""
        if not self.is_open:
            return
        with self.state.lock:
            self.state.scheduler.scheduler_suspended = self._was_suspended
            self.is_open = False
        if start_sync:
            self.cycle.start(policy)

    def configure_staging(self, enabled: bool, *, start_sync: bool = True, hold_s: float = 0.0) -> None:
        """The whole task: open, set the flag, keep the wizard open ``hold_s`` seconds (the operator reading
        the pages), close and (by default, as the wizard offers) start a sync cycle."""
        self.open()
        try:
            self.set_staging(enabled)
            if hold_s > 0:
                time.sleep(hold_s)
        finally:
            self.close(start_sync=start_sync)

    def __enter__(self) -> Wizard:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
