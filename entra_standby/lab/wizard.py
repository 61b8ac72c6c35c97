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

import re
import threading
import time
from collections.abc import Callable
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


_TICK = re.compile(r"\b(UNTICK|TICK) 'Enable staging mode'")


class LabOperator:
    """Plays the person at the console for a drill's wizard method (``instruct(server, text)``).

    Each instruction names a server (its address, lab name or computer name) and says TICK or UNTICK
    'Enable staging mode'; the operator then does it with the lab's wizard in a background thread, as a person
    would while the tool waits: opens the wizard (retrying while a cycle runs), keeps it open ``hold_s``
    seconds (SchedulerSuspended is visible meanwhile), sets the flag, closes (``start_sync`` as the last page
    offers). ``acts=False`` plays an operator who never does it (the tool's wait must time out).
    """

    def __init__(self, wizards: dict[str, Callable[[], Wizard]], *, hold_s: float = 0.3,
                 start_sync: bool = False, acts: bool = True, patience_s: float = 30.0) -> None:
        self._wizards = {key.lower(): factory for key, factory in wizards.items()}
        self.hold_s = hold_s
        self.start_sync = start_sync
        self.acts = acts
        self.patience_s = patience_s
        self.instructions: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self._threads: list[threading.Thread] = []

    def instruct(self, server: str, text: str) -> None:
        self.instructions.append((server, text))
        factory = self._wizards.get(server.lower())
        found = _TICK.search(text)
        if factory is None or found is None:
            self.errors.append(f"cannot follow the instruction for {server}: {text[:80]}")
            return
        if not self.acts:
            return
        thread = threading.Thread(target=self._play, args=(factory, found.group(1) == "TICK"),
                                  name=f"lab-operator-{server}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def join(self, timeout: float | None = None) -> None:
        for thread in list(self._threads):
            thread.join(timeout)

    def _play(self, factory: Callable[[], Wizard], enabled: bool) -> None:
        wizard = factory()
        deadline = time.monotonic() + self.patience_s
        while True:
            try:
                wizard.open()
                break
            except WizardRefusedError as refused:
                if time.monotonic() >= deadline:
                    self.errors.append(str(refused))
                    return
                time.sleep(0.1)  # a person waits for the cycle to finish and tries again
        try:
            wizard.set_staging(enabled)
            if self.hold_s > 0:
                time.sleep(self.hold_s)
        finally:
            wizard.close(start_sync=self.start_sync)
