"""``--drill-plan``: every step per server — the PowerShell action, its parameters, the checks between
steps, the waits and their bounds — from the inventory alone. It opens no connection and changes nothing.
"""

from __future__ import annotations

from ..inventory import PairEntry, ServerEntry
from .methods import METHODS, choices_text, wizard_instruction
from .preflight import pick_standby

__all__ = ["render_plan"]


def _flag_change(method: str | None, host: str, enabled: bool) -> str:
    if method == "global-settings":
        return (f"{host}: action set-staging -Enabled ${str(enabled).lower()}  (Get/Set-ADSyncGlobalSettings "
                "Microsoft.Synchronize.StagingMode; refused by the server while a cycle runs or the "
                "scheduler is suspended)")
    if method == "wizard":
        return f"{host}: OPERATOR: {wizard_instruction(host, enabled)}"
    return f"{host}: (no usable method: {method or 'none configured'})"


def _direction(pair: PairEntry, old: ServerEntry, new: ServerEntry, phase: str, n: int) -> list[str]:
    s = pair.drill
    m = s.method
    lines = [f"{phase.upper()}: {old.host} hands over to {new.host}"]
    steps = [
        f"read both servers (probes scheduler + run-history): expect {old.host} un-staged, {new.host} "
        "staged; record SyncCycleEnabled",
        f"{old.host}: action set-sync-cycle -Enabled $false (tenant-wide: re-read {new.host}; set it there "
        "too if it did not follow)",
        f"wait until no cycle runs on either server (re-read every {s.poll_interval_s:g} s, at most "
        f"{s.idle_timeout_s:g} s)",
        _flag_change(m, old.host, True) + f"; then re-read {old.host}: StagingModeEnabled must be True "
        "and nothing running",
        f"in ONE step: re-read {old.host} (must be staged and idle, else STOP without touching {new.host}), "
        f"then " + _flag_change(m, new.host, False) + f"; re-read {new.host}: StagingModeEnabled must be "
        "False",
        f"{new.host}: action set-sync-cycle -Enabled <as recorded> (re-read {old.host} too)",
        f"{new.host}: action start-sync-cycle -PolicyType Delta (retried while busy, at most "
        f"{s.idle_timeout_s:g} s)",
        f"wait for a successful Export on {new.host}'s Entra connector started after the switch (at most "
        f"{s.export_timeout_s:g} s); any other result fails the step",
    ]
    if pair.cloud is not None:
        steps.append(f"Graph: organization onPremisesLastSyncDateTime later than the switch (at most "
                     f"{s.cloud_timeout_s:g} s)")
        if pair.cloud.canary_user:
            steps += [
                f"{new.host}: action write-canary -UserPrincipalName {pair.cloud.canary_user} -Attribute "
                f"{s.canary_attribute} -Value <fresh nonce>",
                f"{new.host}: action start-sync-cycle -PolicyType Delta; Graph: {pair.cloud.canary_user} "
                f"{s.canary_attribute} equals the nonce (at most {s.cloud_timeout_s:g} s)",
            ]
    else:
        steps.append("no cloud: block: the tenant's view is not checked (needs --no-cloud-verify)")
    steps.append(f"{new.host}: probe password-sync (partition password-sync state, writeback events "
                 "31015/31019): reported, not fatal")
    steps.append(f"RTO = from staging {old.host} to the last proof")
    lines += [f"  {n + i}. {text}" for i, text in enumerate(steps)]
    return lines


def render_plan(pair: PairEntry, kind: str, *, standby: str | None = None,
                confirm_isolated: str | None = None, demote_server: str | None = None) -> str:
    """The full plan as text (no server is contacted)."""
    s = pair.drill
    head = [f"PLAN ({kind}) for pair {pair.name} — nothing is changed by printing this",
            f"method: {s.method or 'NONE (every entry point refuses)'}"
            + (f" — {METHODS[s.method].support}" if s.method in METHODS else "")]
    if s.method is None:
        head.append(choices_text())
    actives = [x for x in pair.servers if x.role == "active"]
    target, problem = pick_standby(pair, standby)
    if problem or len(actives) != 1 or target is None:
        return "\n".join([*head, f"cannot plan: {problem or 'the pair needs exactly one active server'}"])
    active = actives[0]
    head.append("before anything: the pair's drill lock; the maintenance window (drill only); a fresh audit "
                "(every critical check and pending-exports must pass); exactly one un-staged server; a "
                "cloud: block or --no-cloud-verify")
    if kind in ("drill", "switch"):
        body = _direction(pair, active, target, "failover", 1)
        if kind == "drill":
            body.append(f"HOLD: {s.hold_s:g} s on {target.host} as the active server")
            body += _direction(pair, target, active, "failback", 1)
            body.append(f"VERIFY: {active.host} un-staged, {target.host} staged, schedule as recorded; both "
                        "directions proven")
        else:
            body.append(f"AFTER: update the inventory: {target.host} role active, {active.host} role standby")
    elif kind == "failover":
        body = [
            f"EMERGENCY FAILOVER to {target.host}",
            f"  1. {active.host} must be unreachable at the network level (refused / timed out; an "
            "authentication error refuses)",
            f"  2. --confirm-isolated {active.host} must be given (got: {confirm_isolated or 'nothing'})",
            f"  3. {target.host}'s own critical checks and pending-exports must pass; it must be staged",
            f"  4. wait until {target.host} is idle (at most {s.idle_timeout_s:g} s)",
            f"  5. re-check {active.host} is still unreachable, then "
            + _flag_change(s.method, target.host, False),
            f"  6. {target.host}: Delta cycle, successful Export (at most {s.export_timeout_s:g} s), "
            "cloud proof",
            f"  7. print what to do before {active.host} returns: `entra-standby demote` it first",
        ]
    else:
        host = demote_server or "<--server>"
        body = [f"DEMOTE {host}",
                f"  1. read {host} and the other servers; refuse if no other server is un-staged "
                "(unless --allow-zero-active)",
                f"  2. wait until {host} is idle (at most {s.idle_timeout_s:g} s)",
                "  3. " + _flag_change(s.method, host, True) + f"; re-read {host}: staged"]
    return "\n".join(head + body)
