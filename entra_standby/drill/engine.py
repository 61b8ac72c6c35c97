"""The switching engine: one safe sequence, used by the drill, the planned switch, the emergency failover
and demote.

The one rule above all: never two un-staged servers, not even for a moment. So the old active is staged
first and confirmed by re-reading it; immediately before the standby is un-staged, the old active's flag is
read again in the same step, and if it cannot be confirmed staged the standby is left alone. A change whose
answer was lost is never re-sent: the server is re-read to learn what happened. When a step fails after
the first change, the pair is returned to its starting arrangement by the same safe order; when even that
is impossible, the engine stops and prints MANUAL ACTION REQUIRED with each server's last known state and
the exact commands to run where. Zero exporters is always preferred to a guess.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ..errors import DrillError, EntraStandbyError, HostError, UnreachableError
from ..inventory import Inventory, PairEntry, ServerEntry
from .cloudproof import CloudProof
from .hostops import ActionFailedError, Journal, ServerOps, ServerView, SessionLike
from .methods import Operator, SwitchMethod, method_for
from .preflight import Preflight, entra_connectors, run_preflight
from .records import DrillRecord, RunOutcome, StepOutcome, StepRecord

__all__ = ["KINDS", "DrillOptions", "Engine", "execute"]

KINDS = ("drill", "switch", "failover", "demote")
_SAY_EVERY_S = 5.0
T = TypeVar("T")


@dataclass
class DrillOptions:
    """How one run of the engine behaves (front doors fill this from their flags)."""

    standby: str | None = None  # which standby takes over (default: the pair's only standby)
    ignore_window: bool = False
    no_cloud_verify: bool = False
    lock_dir: Path | None = None
    progress: Callable[[str], None] | None = None
    operator: Operator | None = None
    confirm_isolated: str | None = None  # failover --active-down: the operator's confirmation
    demote_server: str | None = None
    allow_zero_active: bool = False  # demote: allowed to leave no server exporting
    session_factory: Callable[[ServerEntry], SessionLike] | None = None
    sleep: Callable[[float], None] = time.sleep
    command: str = "entra-standby"
    warnings: list[str] = field(default_factory=list)  # filled by the engine for the front door to print


class _Refused(DrillError):
    """A precondition failed before anything changed."""


class _StepFailed(DrillError):
    """A step could not be completed."""


class _Manual(DrillError):
    """The safe arrangement could not be restored: a human must act."""


class Engine:
    """One run: drill, switch, failover or demote on one pair."""

    def __init__(self, inventory: Inventory, pair: PairEntry, kind: str, options: DrillOptions) -> None:
        if kind not in KINDS:
            raise DrillError(f"unknown run kind {kind!r}; expected one of {', '.join(KINDS)}")
        self.inventory = inventory
        self.pair = pair
        self.kind = kind
        self.options = options
        self.settings = pair.drill
        self.record = DrillRecord(pair=pair.name, kind=kind, method=self.settings.method,
                                  servers=tuple(s.host for s in pair.servers), started_utc=_now())
        self.journal = Journal(self.record.audit, options.progress)
        self._ops: dict[str, ServerOps] = {}
        self.method: SwitchMethod | None = None
        self.flags: dict[str, bool | None] = {s.host: None for s in pair.servers}
        self.schedule: dict[str, bool | None] = {s.host: None for s in pair.servers}
        self.schedule_before: dict[str, bool] = {}
        self.changed = False
        self.staging_sent: set[str] = set()  # servers this run asked to change their staging flag
        self.rollback_notes: list[str] = []
        self._entra: dict[str, frozenset[str] | None] = {}
        self._cloud: CloudProof | None = None

    # -- plumbing -------------------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.journal.say(text)

    def ops(self, server: ServerEntry) -> ServerOps:
        if server.host not in self._ops:
            from ..remoting import HostSession

            factory = self.options.session_factory or HostSession
            self._ops[server.host] = ServerOps(server, self.journal, factory)
        return self._ops[server.host]

    def close(self) -> None:
        for ops in self._ops.values():
            with contextlib.suppress(Exception):
                ops.close()

    @contextlib.contextmanager
    def step(self, name: str, phase: str, server: str | None = None) -> Iterator[StepRecord]:
        record = StepRecord(name=name, phase=phase, server=server, started_utc=_now())
        self.record.steps.append(record)
        t0 = time.monotonic()
        self.say(f"[{phase}] {name}")
        try:
            yield record
        except BaseException as exc:  # Ctrl-C included: a failed step, never an abandoned pair
            record.outcome = StepOutcome.FAILED
            record.message = str(exc) or f"interrupted ({type(exc).__name__})"
            raise
        finally:
            record.duration_s = time.monotonic() - t0
            self.say(f"[{phase}] {name}: {record.outcome} ({record.duration_s:.1f} s)"
                     + (f" - {record.message}" if record.message else ""))

    def read(self, server: ServerEntry, purpose: str) -> ServerView:
        view = self.ops(server).read(purpose)
        self.flags[server.host] = view.staged
        self.schedule[server.host] = view.scheduler.sync_cycle_enabled
        return view

    def read_or_none(self, server: ServerEntry, purpose: str) -> ServerView | None:
        try:
            return self.read(server, purpose)
        except EntraStandbyError:
            return None

    def wait(self, what: str, bound_s: float, probe: Callable[[], T | None]) -> T:
        """Poll ``probe`` until it returns a value; bounded; failed reads are retried until the bound."""
        t0 = time.monotonic()
        last_error = ""
        said = -_SAY_EVERY_S
        while True:
            try:
                value = probe()
                if value is not None:
                    return value
            except (_StepFailed, _Manual, _Refused):
                raise
            except EntraStandbyError as exc:
                last_error = f" (last read failed: {exc})"
            elapsed = time.monotonic() - t0
            if elapsed >= bound_s:
                raise _StepFailed(f"gave up waiting for {what} after {bound_s:g} s{last_error}")
            if elapsed - said >= _SAY_EVERY_S:  # progress, without a line per poll
                said = elapsed
                self.say(f"  waiting for {what}: {elapsed:.0f} s of {bound_s:g} s{last_error}")
            self.options.sleep(min(self.settings.poll_interval_s, max(bound_s - elapsed, 0.05)))

    # -- the building blocks --------------------------------------------------------------------------------

    def wait_idle(self, servers: list[ServerEntry]) -> None:
        def idle() -> bool | None:
            busy = []
            for server in servers:
                view = self.read(server, "wait until idle")
                busy += [f"{server.host}: {reason}" for reason in view.running]
            return True if not busy else None

        self.wait("no sync cycle running on " + " and ".join(s.host for s in servers),
                  self.settings.idle_timeout_s, idle)

    def set_schedule(self, enabled: bool, servers: list[ServerEntry]) -> None:
        """Set SyncCycleEnabled: on the first server, then wherever the tenant-wide setting did not reach."""
        first = servers[0]
        self.changed = True
        self._act_confirmed(first, "set-sync-cycle", enabled,
                            lambda view: view.scheduler.sync_cycle_enabled == enabled)
        for other in servers[1:]:
            view = self.read(other, "did the tenant-wide schedule change reach it")
            if view.scheduler.sync_cycle_enabled != enabled:
                self._act_confirmed(other, "set-sync-cycle", enabled,
                                    lambda view: view.scheduler.sync_cycle_enabled == enabled)

    def _act_confirmed(self, server: ServerEntry, action: str, enabled: bool,
                       done: Callable[[ServerView], bool]) -> None:
        """Run a scheduler action once; whatever its answer, decide by re-reading the server."""
        try:
            self.ops(server).act(action, Enabled=enabled)
        except ActionFailedError:
            raise
        except HostError as exc:
            self.say(f"  {server.host}: the answer to {action} was lost ({exc}); re-reading to see what "
                     "happened")
        view = self.wait(f"{server.host} to answer a re-read after {action}", self._reread_bound(server),
                         lambda: self.read(server, f"confirm {action}"))
        if not done(view):
            raise _StepFailed(f"{server.host}: {action} Enabled={enabled} did not take effect "
                              f"(re-read: staging={view.staged}, "
                              f"sync_cycle_enabled={view.scheduler.sync_cycle_enabled})")

    def _read_bounded(self, server: ServerEntry, purpose: str) -> ServerView:
        return self.wait(f"{server.host} to answer", self._reread_bound(server),
                         lambda: self.read(server, purpose))

    def _reread_bound(self, server: ServerEntry) -> float:
        """How long a server gets to answer a re-read after a change: a few polls, and at least two of its
        own request timeouts (a stalled answer must not be mistaken for a server that is gone)."""
        timeouts = server.connection.read_timeout + server.connection.connect_timeout
        return max(3 * self.settings.poll_interval_s, 2 * timeouts + 1)

    def set_staging(self, server: ServerEntry, enabled: bool) -> None:
        """Change one flag with the pair's method; retried once after waiting if the server was busy;
        always confirmed by re-reading."""
        assert self.method is not None
        self.changed = True
        self.staging_sent.add(server.host)
        for attempt in (1, 2):
            try:
                self.method.set_staging(self.ops(server), enabled)
                break
            except ActionFailedError as refused:
                if refused.error_kind == "Busy" and attempt == 1:
                    self.say(f"  {server.host} is busy; waiting for its cycle to end before retrying")
                    self.wait_idle([server])
                    continue
                raise _StepFailed(str(refused)) from None
            except HostError as exc:
                self.say(f"  {server.host}: the answer was lost ({exc}); re-reading to see what happened")
                break
        view = self.wait(f"{server.host} to answer a re-read of its staging flag", self._reread_bound(server),
                         lambda: self.read(server, f"confirm staging={enabled}"))
        if view.staged != enabled:
            raise _StepFailed(f"{server.host}: staging is still {view.staged} after the switch to {enabled}")

    def confirm_staged_now(self, other: ServerEntry) -> None:
        """Immediately before un-staging a server: the other one must be staged and idle, read just now."""
        try:
            view = self.read(other, "confirm staged before un-staging the other server")
        except EntraStandbyError as exc:
            raise _StepFailed(f"{other.host} could not be confirmed staged ({exc}); the other server was "
                              "NOT un-staged") from None
        if not view.staged:
            raise _StepFailed(f"{other.host} is not staged (re-read just now); the other server was NOT "
                              "un-staged")
        if view.running:
            raise _StepFailed(f"{other.host} is staged but still running ({'; '.join(view.running)}): an "
                              "export that began before staging may still be writing; the other server was "
                              "NOT un-staged")

    def start_cycle(self, server: ServerEntry) -> datetime:
        started = _now()

        def start() -> bool | None:
            try:
                self.ops(server).act("start-sync-cycle", PolicyType="Delta")
                return True
            except ActionFailedError as refused:
                if refused.error_kind == "Busy":
                    return None  # a cycle is already running: wait for it, then start ours
                raise _StepFailed(str(refused)) from None

        self.wait(f"{server.host} to accept a Delta sync cycle", self.settings.idle_timeout_s, start)
        return started

    def wait_export(self, server: ServerEntry, since: datetime) -> str:
        connectors = self._entra.get(server.host)

        def exported() -> str | None:
            view = self.read(server, "wait for the Export")
            done = [r for r in view.exports_since(since, connectors) if r.complete]
            if not done:
                return None
            newest = done[-1]
            if newest.result != "success":
                raise _StepFailed(f"{server.host}: the Export on {newest.connector} ended "
                                  f"'{newest.result}' (started {newest.start:%H:%M:%S}Z)")
            at = newest.end or newest.start
            return f"Export on {newest.connector} succeeded on {server.host} at {at:%H:%M:%S}Z"

        names = ", ".join(sorted(connectors)) if connectors else "the Entra connector"
        what = f"a successful Export on {names}"
        return self.wait(f"{what} of {server.host}", self.settings.export_timeout_s, exported)

    # -- proof ----------------------------------------------------------------------------------------------

    def prove(self, new: ServerEntry, since: datetime, phase: str) -> None:
        proven = self.record.proven.setdefault(phase, [])
        unproven = self.record.unproven.setdefault(phase, [])
        with self.step(f"run a Delta cycle on {new.host}", phase, new.host):
            self.start_cycle(new)
        with self.step(f"wait for a successful Export on {new.host}", phase, new.host) as step:
            step.message = self.wait_export(new, since)
            proven.append(f"run history: {step.message}")
        if self._cloud is None:
            unproven.append("the tenant's view (no cloud check: --no-cloud-verify or no cloud: block)")
            return
        cloud = self._cloud
        with self.step("prove from the cloud: the tenant's last sync moved past the switch", phase) as step:
            # Graph gives whole seconds: a sync in the same second as the switch counts (the old active was
            # staged and idle before that moment, so it cannot be the one that synced).
            floor = since.replace(microsecond=0)

            def advanced() -> datetime | None:
                last = cloud.last_sync()
                return last if last is not None and last >= floor else None

            last = self.wait("the tenant's onPremisesLastSyncDateTime to pass the switch",
                             self.settings.cloud_timeout_s, advanced)
            step.message = f"onPremisesLastSyncDateTime {last:%Y-%m-%dT%H:%M:%S}Z > switch {since:%H:%M:%S}Z"
            proven.append(f"cloud: {step.message}")
        if cloud.canary_user is None:
            unproven.append("canary: no canary_user configured (the last-sync time is tenant-wide and does "
                            "not name the server that exported)")
            return
        self._prove_canary(new, phase, cloud)

    def _prove_canary(self, new: ServerEntry, phase: str, cloud: CloudProof) -> None:
        proven = self.record.proven.setdefault(phase, [])
        unproven = self.record.unproven.setdefault(phase, [])
        attribute = self.settings.canary_attribute
        nonce = f"entra-standby {phase} {uuid.uuid4()}"
        title = f"write a canary nonce to {cloud.canary_user} through {new.host}"
        with self.step(title, phase, new.host) as step:
            try:
                self.ops(new).act("write-canary", UserPrincipalName=cloud.canary_user, Attribute=attribute,
                                  Value=nonce)
            except EntraStandbyError as exc:
                step.outcome = StepOutcome.SKIPPED
                step.message = f"not written: {exc}"
                unproven.append(f"canary: could not be written on premises ({exc})")
                return
        title = f"wait for the canary to reach the tenant through {new.host}"
        with self.step(title, phase, new.host) as step:
            self.wait_idle([new])
            self.start_cycle(new)

            def arrived() -> bool | None:
                return True if cloud.canary_value(attribute) == nonce else None

            self.wait(f"Graph to show {cloud.canary_user}.{attribute} = the nonce",
                      self.settings.cloud_timeout_s, arrived)
            step.message = f"{cloud.canary_user}.{attribute} carries the nonce written through {new.host}"
            proven.append(f"canary: {step.message}")

    def check_password_services(self, new: ServerEntry, old: ServerEntry | None, since: datetime,
                                phase: str) -> None:
        """Password hash sync and writeback on the new active (reference §1.4): reported, never fatal."""
        from ..probes import UnknownScriptError

        proven = self.record.proven.setdefault(phase, [])
        unproven = self.record.unproven.setdefault(phase, [])
        with self.step(f"check password hash sync and writeback on {new.host}", phase, new.host) as step:
            try:
                fact = self.ops(new).read_probe("password-sync", {"SinceUtc": _iso(since)})
            except UnknownScriptError:
                step.outcome = StepOutcome.SKIPPED
                step.message = "the password-sync probe is not available in this build"
                unproven.append("password hash sync / writeback: not checked (probe not available)")
                return
            except EntraStandbyError as exc:
                step.outcome = StepOutcome.SKIPPED
                step.message = f"could not be read: {exc}"
                unproven.append(f"password hash sync / writeback: could not be read ({exc})")
                return
            good, bad = _password_findings(fact, since)
            proven += [f"{new.host}: {text}" for text in good]
            unproven += [f"{new.host}: {text}" for text in bad]
            step.message = "; ".join(good + bad) or "nothing reported"

    # -- one direction ------------------------------------------------------------------------------------

    def switch_direction(self, old: ServerEntry, new: ServerEntry, phase: str) -> None:
        """old (un-staged) hands over to new (staged); raises on any failure (the caller rolls back)."""
        with self.step("record both servers' scheduler state", phase) as step:
            views = {s.host: self.read(s, "record the starting state") for s in (old, new)}
            if views[old.host].staged or not views[new.host].staged:
                raise _StepFailed(f"expected {old.host} un-staged and {new.host} staged, found "
                                  f"{old.host} staging={views[old.host].staged}, "
                                  f"{new.host} staging={views[new.host].staged}")
            if views[new.host].scheduler.scheduler_suspended:
                raise _StepFailed(f"{new.host}: the scheduler is suspended (an upgrade or an open wizard); "
                                  "close the wizard / finish the upgrade first")
            if not self.schedule_before:
                self.schedule_before = {h: v.scheduler.sync_cycle_enabled for h, v in views.items()}
            step.message = ", ".join(f"{h}: staging={v.staged} sync_cycle_enabled="
                                     f"{v.scheduler.sync_cycle_enabled}" for h, v in views.items())
        with self.step("suspend the schedule (the setting is tenant-wide: both servers)", phase, old.host):
            self.set_schedule(False, [old, new])
        with self.step("wait until both servers are idle", phase):
            self.wait_idle([old, new])
        t_first_change = time.monotonic()
        with self.step(f"stage {old.host}", phase, old.host):
            self.set_staging(old, True)
            view = self.read(old, "after staging: no export may still run")
            if view.running:
                self.wait_idle([old])
        with self.step(f"un-stage {new.host} (after re-reading {old.host}: staged)", phase, new.host):
            self.confirm_staged_now(old)
            switched_at = _now()
            self.set_staging(new, False)
        with self.step("restore the schedule", phase, new.host):
            wanted = any(self.schedule_before.values()) if self.schedule_before else True
            self.set_schedule(wanted, [new, old])
        self.prove(new, switched_at, phase)
        self.record.rto_s[phase] = time.monotonic() - t_first_change
        self.check_password_services(new, old, switched_at, phase)

    # -- rollback -------------------------------------------------------------------------------------------

    def restore(self, active: ServerEntry, standby: ServerEntry, cause: BaseException) -> None:
        """Back to ``active`` un-staged, ``standby`` staged, by the safe order; ``_Manual`` if impossible."""
        self.say(f"ROLLING BACK: {_cause(cause)}")
        try:
            with self.step(f"roll back: {active.host} active, {standby.host} staged", "rollback"):
                views = {}
                unreadable: list[ServerEntry] = []
                for server in (active, standby):
                    try:
                        views[server.host] = self._read_bounded(server, "rollback: where are we")
                    except _StepFailed as exc:
                        if self.staging_sent:
                            raise _Manual(f"{server.host} cannot be read: {exc}") from None
                        unreadable.append(server)
                if unreadable:
                    # No staging flag was touched by this run, so both are still as read at the start;
                    # only the (tenant-wide) schedule needs restoring, through whichever server answers.
                    self._restore_schedule_only([s for s in (active, standby) if s not in unreadable],
                                                unreadable)
                    return
                a_staged, s_staged = views[active.host].staged, views[standby.host].staged
                if not a_staged and not s_staged:
                    self.say(f"  BOTH un-staged: staging {standby.host} at once")
                    self.set_staging(standby, True)
                elif a_staged and not s_staged:
                    try:
                        self.set_staging(standby, True)
                    except EntraStandbyError as exc:
                        raise _Manual(f"{standby.host} could not be staged again: {exc}") from None
                if a_staged:
                    try:
                        self.wait_idle([standby])  # a cycle it began while un-staged may still export
                        self.confirm_staged_now(standby)
                        self.set_staging(active, False)
                    except EntraStandbyError as exc:
                        raise _Manual(f"{active.host} could not be un-staged again: {exc}") from None
                if self.schedule_before:
                    try:
                        self.set_schedule(any(self.schedule_before.values()), [active, standby])
                    except EntraStandbyError as exc:
                        raise _Manual(f"the schedule could not be restored: {exc}") from None
        except _Manual:
            raise
        except KeyboardInterrupt:
            raise _Manual("interrupted during the rollback") from None
        except EntraStandbyError as exc:
            raise _Manual(str(exc)) from None

    def _restore_schedule_only(self, readable: list[ServerEntry], unreadable: list[ServerEntry]) -> None:
        names = ", ".join(s.host for s in unreadable)
        if not readable:
            raise _Manual(f"neither server can be read ({names})")
        if self.schedule_before:
            try:
                self.set_schedule(any(self.schedule_before.values()), readable)
            except EntraStandbyError as exc:
                raise _Manual(f"the schedule could not be restored: {exc}") from None
        self.rollback_notes.append(
            f"{names} could not be read during the rollback; its staging flag was not changed by this run "
            f"(last read: {', '.join(f'{s.host} staged={self.flags.get(s.host)}' for s in unreadable)}); "
            f"check its scheduler (Get-ADSyncScheduler on {names}) once it answers")

    def manual_report(self, failure: str, intended_active: ServerEntry, intended_standby: ServerEntry) -> str:
        lines = [f"MANUAL ACTION REQUIRED on pair {self.pair.name}: {failure}", "Last known state:"]
        for server in self.pair.servers:
            flag = self.flags.get(server.host)
            sched = self.schedule.get(server.host)
            flag_text = "UNKNOWN" if flag is None else ("staged" if flag else "UN-STAGED (exporting)")
            sched_text = "unknown" if sched is None else str(sched)
            lines.append(f"  {server.host} (inventory role {server.role}): staging {flag_text}, "
                         f"SyncCycleEnabled {sched_text}")
        for server in self.pair.servers:
            view = self.ops(server).last_view if server.host in self._ops else None
            if view is not None and view.running:
                lines.append(f"  {server.host} was still running when last read ({'; '.join(view.running)}): "
                             f"if its cycle never ends, Stop-ADSyncSyncCycle on {server.host} stops it (the "
                             "next one starts on schedule) before its flag can be changed")
        a, s = intended_active.host, intended_standby.host
        lines += [
            "Do this, in this order (never leave two servers un-staged):",
            f"  1. On {s}: Import-Module ADSync; Get-ADSyncScheduler  -> if StagingModeEnabled is False, "
            f"stage it first (wizard > Configure staging mode > tick 'Enable staging mode'), then confirm "
            "StagingModeEnabled is True.",
            f"  2. On {a}: Get-ADSyncScheduler -> if StagingModeEnabled is True and {s} is confirmed staged, "
            f"un-stage {a} (wizard > Configure staging mode > untick) and run Start-ADSyncSyncCycle "
            "-PolicyType Delta; check the Export in Synchronization Service Manager > Operations.",
            f"  3. On one server: Set-ADSyncScheduler -SyncCycleEnabled $true (tenant-wide), then check "
            f"Get-ADSyncScheduler on both {a} and {s}.",
            f"  4. Run the audit (pytest checks/ --inventory ...) and remove the drill lock with "
            f"`entra-standby unlock --pair {self.pair.name}` once the pair is healthy.",
        ]
        return "\n".join(lines)

    # -- entry points -------------------------------------------------------------------------------------

    def _setup(self, versions: dict[str, str | None]) -> None:
        self.method = method_for(self.settings.method, versions=versions, operator=self.options.operator,
                                 timeout_s=self.settings.operator_timeout_s,
                                 poll_s=self.settings.poll_interval_s, progress=self.say,
                                 sleep=self.options.sleep)
        if self.pair.cloud is not None and not self.options.no_cloud_verify:
            self._cloud = CloudProof(self.pair.cloud)

    def _refuse(self, reasons: list[str]) -> DrillRecord:
        self.record.outcome = RunOutcome.REFUSED
        self.record.refusal = "; ".join(reasons)
        return self.record

    def _versions(self, pre: Preflight) -> dict[str, str | None]:
        facts = pre.facts
        out: dict[str, str | None] = {}
        for server in self.pair.servers:
            host = facts.server(server.host) if facts else None
            known = host is not None and host.has("version")
            out[server.host] = host.version.product_version if known and host is not None else None
        return out

    def run_planned(self) -> DrillRecord:
        """The drill (failover, prove, hold, failback, prove) or the planned switch (failover only)."""
        if self.settings.method is None:
            return self._refuse([_no_method()])
        with self.step("preflight: readiness checks and switch preconditions", "preflight") as step:
            pre = run_preflight(self.inventory, self.pair, standby_host=self.options.standby,
                                no_cloud_verify=self.options.no_cloud_verify)
            self.options.warnings.extend(pre.warnings)
            if not pre.ok:
                step.outcome = StepOutcome.FAILED
                step.message = "; ".join(pre.reasons())
        if not pre.ok:
            return self._refuse(pre.reasons())
        assert pre.active is not None and pre.standby is not None and pre.facts is not None
        try:
            self._setup(self._versions(pre))
        except DrillError as exc:
            return self._refuse([exc.message])
        active, standby = pre.active, pre.standby
        for server in (active, standby):
            self._entra[server.host] = entra_connectors(pre.facts, server.host)
        try:
            try:
                self.switch_direction(active, standby, "failover")
                if self.kind == "drill":
                    self.hold()
                    self.switch_direction(standby, active, "failback")
            except (EntraStandbyError, KeyboardInterrupt) as exc:
                if not self.changed:
                    return self._refuse([str(exc)])
                try:
                    self.restore(active, standby, exc)
                except _Manual as manual:
                    self.record.outcome = RunOutcome.MANUAL_ACTION
                    self.record.manual_action = self.manual_report(f"{_cause(exc)}; rollback: {manual}",
                                                                   active, standby)
                    return self.record
                self.record.outcome = RunOutcome.ROLLED_BACK
                self.record.refusal = "; ".join([_cause(exc), *self.rollback_notes])
                return self.record
            self.record.outcome = RunOutcome.PASSED
            if self.kind == "drill":
                self._verify_back_to_start(active, standby)
            else:
                self.options.warnings.append(
                    f"{standby.host} is the active server now: update the inventory ({self.inventory.path}): "
                    f"{standby.host} role active, {active.host} role standby. Until then the staging-flag "
                    "check reports the swap.")
            return self.record
        finally:
            self._final_flags()

    def hold(self) -> None:
        with self.step(f"hold on the new active for {self.settings.hold_s:g} s", "hold"):
            deadline = time.monotonic() + self.settings.hold_s
            while (left := deadline - time.monotonic()) > 0:
                self.say(f"  holding: {left:.0f} s left")
                self.options.sleep(min(left, max(self.settings.poll_interval_s, 1.0)))

    def _verify_back_to_start(self, active: ServerEntry, standby: ServerEntry) -> None:
        with self.step("verify the pair ended exactly as it started", "verify") as step:
            views = {s.host: self.read(s, "final state") for s in (active, standby)}
            problems = []
            if views[active.host].staged:
                problems.append(f"{active.host} is staged")
            if not views[standby.host].staged:
                problems.append(f"{standby.host} is un-staged")
            for host, before in self.schedule_before.items():
                if views[host].scheduler.sync_cycle_enabled != before:
                    problems.append(f"{host}: SyncCycleEnabled {views[host].scheduler.sync_cycle_enabled}, "
                                    f"was {before}")
            if problems:
                step.outcome = StepOutcome.FAILED
                step.message = "; ".join(problems)
                self.record.outcome = RunOutcome.MANUAL_ACTION
                self.record.manual_action = self.manual_report("the pair did not end as it started: "
                                                               + step.message, active, standby)
            else:
                step.message = f"{active.host} un-staged, {standby.host} staged, schedule as before"
        for phase in ("failover", "failback"):
            if not self.record.proven.get(phase):
                self.record.outcome = RunOutcome.MANUAL_ACTION
                self.record.manual_action = f"the {phase} direction was not proven"

    def _final_flags(self) -> None:
        self.record.final_staging = dict(self.flags)
        self.record.finished_utc = _now()

    def run_failover(self) -> DrillRecord:
        """Emergency: the active is unreachable; the operator confirmed it is isolated."""
        pair = self.pair
        actives = [s for s in pair.servers if s.role == "active"]
        if len(actives) != 1:
            return self._refuse([f"pair {pair.name} names {len(actives)} active servers; exactly one is "
                                 "needed"])
        active = actives[0]
        from .preflight import pick_standby

        standby, problem = pick_standby(pair, self.options.standby)
        if standby is None:
            return self._refuse([problem or "no standby"])
        if self.settings.method is None:
            return self._refuse([_no_method()])
        title = f"preflight: {active.host} must be unreachable at the network level"
        with self.step(title, "preflight") as step:
            try:
                self.read(active, "is the active really down")
            except UnreachableError as exc:
                step.message = f"unreachable as expected: {exc}"
            except HostError as exc:
                step.outcome = StepOutcome.FAILED
                step.message = (f"{active.host} answered but failed ({exc.kind}: {exc}); an authentication "
                                "or protocol error means the server is running: this is not an emergency "
                                "failover")
                return self._refuse([step.message])
            else:
                step.outcome = StepOutcome.FAILED
                step.message = (f"{active.host} answers and is "
                                f"{'staged' if self.flags[active.host] else 'UN-STAGED'}: use `entra-standby "
                                "switch` for a planned switch; --active-down is only for an unreachable "
                                "active")
                return self._refuse([step.message])
        confirm = (self.options.confirm_isolated or "").strip().lower()
        if confirm != active.host.lower():
            given = f" (got {self.options.confirm_isolated!r})" if self.options.confirm_isolated else ""
            return self._refuse([
                f"confirm that {active.host} is shut down or cut off from the network (Microsoft: it must "
                f"not come back active) with --confirm-isolated {active.host}{given}"])
        pre = run_preflight(self.inventory, pair, standby_host=standby.host,
                            no_cloud_verify=self.options.no_cloud_verify)
        self.options.warnings.extend(pre.warnings)
        refusals, cannot_compare = _emergency_refusals(pre, pair, active, standby)
        self.options.warnings.extend(cannot_compare)
        with self.step(f"preflight: {standby.host}'s own readiness", "preflight") as step:
            if pre.facts is not None and not pre.facts.server(standby.host).has("scheduler"):
                refusals.append(f"{standby.host} could not be read: "
                                f"{pre.facts.server(standby.host).errors.get('scheduler')}")
            if refusals:
                step.outcome = StepOutcome.FAILED
                step.message = "; ".join(refusals)
        if refusals:
            return self._refuse(refusals)
        try:
            self._setup(self._versions(pre))
        except DrillError as exc:
            return self._refuse([exc.message])
        assert pre.facts is not None
        self._entra[standby.host] = entra_connectors(pre.facts, standby.host)
        try:
            try:
                t0 = time.monotonic()
                with self.step(f"check {standby.host} is staged and idle", "failover", standby.host) as step:
                    view = self.read(standby, "starting state")
                    if not view.staged:
                        raise _StepFailed(f"{standby.host} is already un-staged")
                    self.schedule_before = {standby.host: view.scheduler.sync_cycle_enabled}
                    self.wait_idle([standby])
                title = f"un-stage {standby.host} (after re-checking {active.host} is still unreachable)"
                with self.step(title, "failover", standby.host):
                    try:
                        self.read(active, "still unreachable right before un-staging")
                    except UnreachableError:
                        pass
                    except HostError as exc:
                        raise _StepFailed(f"{active.host} now answers ({exc}); it is not isolated: NOT "
                                          f"un-staging {standby.host}") from None
                    else:
                        raise _StepFailed(f"{active.host} answers again; it is not isolated: NOT un-staging "
                                          f"{standby.host}")
                    switched_at = _now()
                    self.set_staging(standby, False)
                if not view.scheduler.sync_cycle_enabled:
                    with self.step("enable the schedule on the new active", "failover", standby.host):
                        self.set_schedule(True, [standby])
                self.prove(standby, switched_at, "failover")
                self.record.rto_s["failover"] = time.monotonic() - t0
                self.check_password_services(standby, None, switched_at, "failover")
            except (EntraStandbyError, KeyboardInterrupt) as exc:
                if not self.changed:
                    return self._refuse([str(exc)])
                try:
                    with self.step(f"roll back: stage {standby.host} again", "rollback", standby.host):
                        self.set_staging(standby, True)
                except (EntraStandbyError, KeyboardInterrupt) as back:
                    self.record.outcome = RunOutcome.MANUAL_ACTION
                    self.record.manual_action = self.manual_report(f"{_cause(exc)}; rollback: {back}",
                                                                   standby, active)
                    return self.record
                self.record.outcome = RunOutcome.ROLLED_BACK
                self.record.refusal = (f"{_cause(exc)}; {standby.host} is staged again, so NOTHING exports "
                                       "now: fix the cause and run the failover again")
                return self.record
            self.record.outcome = RunOutcome.PASSED
            self.options.warnings.append(_after_emergency(self.inventory, pair, active, standby))
            return self.record
        finally:
            self._final_flags()

    def run_demote(self) -> DrillRecord:
        """Stage one server (e.g. the old active coming back after an emergency failover)."""
        name = (self.options.demote_server or "").lower()
        target = next((s for s in self.pair.servers if s.host.lower() == name), None)
        if target is None:
            return self._refuse([f"--server {self.options.demote_server!r} is not a server of pair "
                                 f"{self.pair.name} ({', '.join(s.host for s in self.pair.servers)})"])
        if self.settings.method is None:
            return self._refuse([_no_method()])
        others = [s for s in self.pair.servers if s is not target]
        try:
            with self.step(f"read {target.host} and the other servers", "demote") as step:
                view = self.read(target, "demote: current state")
                exporting = [o.host for o in others
                             if (v := self.read_or_none(o, "demote: is another server exporting")) is not None
                             and not v.staged]
                step.message = f"{target.host} staging={view.staged}; other exporters: {exporting or 'none'}"
        except (EntraStandbyError, KeyboardInterrupt) as exc:
            self._final_flags()
            return self._refuse([f"{target.host} cannot be read: {exc}"])
        if view.staged:
            self.record.outcome = RunOutcome.PASSED
            self.options.warnings.append(f"{target.host} is already staged: nothing to do")
            self._final_flags()
            return self.record
        if not exporting and not self.options.allow_zero_active:
            self._final_flags()
            return self._refuse([f"no other server of {self.pair.name} is confirmed un-staged, so staging "
                                 f"{target.host} would leave nothing exporting; fail over first, or pass "
                                 "--allow-zero-active if that is what you want"])
        try:
            self._setup({target.host: None})
        except DrillError as exc:
            return self._refuse([exc.message])
        try:
            with self.step(f"stage {target.host}", "demote", target.host):
                self.wait_idle([target])
                self.set_staging(target, True)
        except (EntraStandbyError, KeyboardInterrupt) as exc:
            self.record.outcome = RunOutcome.MANUAL_ACTION
            self.record.manual_action = (
                f"MANUAL ACTION REQUIRED on pair {self.pair.name}: staging {target.host} failed ({exc}). "
                f"Last known flag of {target.host}: {self.flags.get(target.host)}. On {target.host}: "
                "Import-Module ADSync; Get-ADSyncScheduler; if StagingModeEnabled is False, stop the ADSync "
                "service (Stop-Service ADSync) or cut it off, then stage it with the wizard.")
            self._final_flags()
            return self.record
        self.record.outcome = RunOutcome.PASSED
        if target.role == "active":
            self.options.warnings.append(
                f"{target.host} is staged now; update the inventory: {target.host} role standby"
                + (f", {exporting[0]} role active" if exporting else ""))
        self._final_flags()
        return self.record


def _emergency_refusals(pre: Preflight, pair: PairEntry, active: ServerEntry,
                        standby: ServerEntry) -> tuple[list[str], list[str]]:
    """With the active down, only the standby's own verdicts can block; a check that could not compare the
    standby with the unreachable active is reported, not held against it."""
    from ..results import Outcome
    from .preflight import describe

    refusals = list(pre.refusals)
    cannot_compare: list[str] = []
    for result in pre.blocked:
        if result.host != standby.host:
            continue
        if result.outcome is Outcome.ERROR and active.host in (result.reason or ""):
            cannot_compare.append(f"not compared with the unreachable {active.host}: {describe(result)}")
        else:
            refusals.append(describe(result))
    return refusals, cannot_compare


def _cause(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by the operator (Ctrl-C)"
    return str(exc) or type(exc).__name__


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _no_method() -> str:
    from .methods import choices_text

    return "no switch method is configured for this pair, and there is no default; " + choices_text()


def _password_findings(fact: Any, since: datetime) -> tuple[list[str], list[str]]:
    """What the password-sync fact proves after un-staging, and what it does not (reference §1.4)."""
    good: list[str] = []
    bad: list[str] = []
    partitions = getattr(fact, "partitions", None) or ()
    moved = [p for p in partitions if (getattr(p, "last_successful_cycle_end_utc", None) or since) > since]
    if partitions:
        (good if moved else bad).append(
            f"password hash sync: {len(moved)} of {len(partitions)} partition(s) completed a cycle after the "
            "switch")
    elif getattr(fact, "partitions_error", None):
        bad.append(f"password hash sync state unreadable: {fact.partitions_error}")
    events = getattr(fact, "writeback_events", None) or ()
    ids = {getattr(e, "id", None) for e in events}
    if 31015 in ids or 31019 in ids:
        good.append("password writeback: service started / heartbeat events (31015/31019) since the switch")
    elif getattr(fact, "writeback_events_error", None):
        bad.append(f"password writeback events unreadable: {fact.writeback_events_error}")
    else:
        bad.append("password writeback: no 31015/31019 event since the switch (not enabled, or not started)")
    return good, bad


def _after_emergency(inventory: Inventory, pair: PairEntry, active: ServerEntry, standby: ServerEntry) -> str:
    return (
        f"{standby.host} is the active server now. BEFORE {active.host} RETURNS: do not start it as it was: "
        "it would come back un-staged and export too. Start it isolated (no network, or with the ADSync "
        f"service disabled), then stage it: entra-standby demote --inventory {inventory.path} "
        f"--pair {pair.name} --server {active.host}. Then update the inventory: {standby.host} role "
        f"active, {active.host} role standby.")


def execute(inventory: Inventory, pair_name: str, kind: str, options: DrillOptions) -> DrillRecord:
    """Run ``kind`` on one pair, under the pair's drill lock; returns the full record (never raises for a
    server's failure; ``DrillError`` only when the run cannot even start, e.g. the lock is held)."""
    from .lock import PairLock
    from .windows import require_window, warning_text

    pair = _pair(inventory, pair_name)
    engine = Engine(inventory, pair, kind, options)
    if kind == "drill":
        try:
            status = require_window(pair.drill.maintenance_windows, _now(), pair=pair.name,
                                    ignore=options.ignore_window)
        except DrillError as outside:
            return engine._refuse([str(outside)])
        if not status.inside:
            options.warnings.append(warning_text(status, pair.name))
    lock = PairLock(pair.name, directory=options.lock_dir, command=options.command)
    lock.acquire()
    record: DrillRecord | None = None
    try:
        if kind in ("drill", "switch"):
            record = engine.run_planned()
        elif kind == "failover":
            record = engine.run_failover()
        else:
            record = engine.run_demote()
        return record
    finally:
        engine.close()
        # After MANUAL ACTION the pair is in a state a human must check: the lock stays so no other drill
        # starts on it until someone runs `entra-standby unlock`. A crash (exception) leaves it too.
        if record is not None and record.outcome is not RunOutcome.MANUAL_ACTION:
            lock.release()
        elif record is not None:
            options.warnings.append(f"the drill lock of {pair.name} stays held until the pair is checked: "
                                    f"entra-standby unlock --pair {pair.name}")


def _pair(inventory: Inventory, name: str) -> PairEntry:
    for pair in inventory.pairs:
        if pair.name == name:
            return pair
    raise DrillError(f"{inventory.path}: no pair named {name!r}",
                     fix="pairs: " + ", ".join(p.name for p in inventory.pairs))
