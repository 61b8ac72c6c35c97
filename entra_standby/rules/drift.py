"""Configuration drift between a standby and its active: what the standby would do differently after failover.

Keys follow the fingerprint recipe of reference §8.3: connectors by name, partitions by name, sync rules by
(connector name, rule name, direction); identifiers differ per install and are never compared. DNs are
compared case-insensitively and lists as sets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..facts.collection import HostFacts, PairFacts
from ..facts.model import ConfigFacts, ConnectorConfig, DeletionThreshold, Partition, SyncRule
from ._common import Reporter, no_active_finding
from .base import Finding, Severity, check

DRIFT_REMEDIATION = (
    "make the standby's configuration match the active's: export the active's settings (wizard > "
    "View or Export Current Configuration) and apply the same OU filter, partitions, optional features "
    "and sync rules on the standby (wizard / Synchronization Rules Editor), then run "
    "Start-ADSyncSyncCycle -PolicyType Initial on the standby"
)

_RULE_FIELDS: tuple[tuple[str, str], ...] = (
    ("precedence", "precedence"),
    ("disabled", "disabled"),
    ("immutable_tag", "immutable tag"),
    ("source_object_type", "source object type"),
    ("target_object_type", "target object type"),
    ("link_type", "link type"),
    ("scope_hash", "scoping filter"),
    ("join_hash", "join rules"),
    ("flows_hash", "attribute flows"),
    ("enable_password_sync", "password hash sync"),
    ("soft_delete_expiry_interval_s", "soft-delete expiry interval (s)"),
    ("version_agnostic_tag", "version-agnostic tag"),
    ("tag_version", "tag version"),
)
_HASHES = frozenset({"scope_hash", "join_hash", "flows_hash"})
# Settings whose difference matters less than the rest: auto-upgrade on one server only means version skew
# later, not a different write after failover.
_LOWER_SETTINGS = {"microsoft.optionalfeature.autoupgradestate": Severity.MEDIUM}
# Features that Get-ADSyncAADCompanyFeature also reports (the tenant's flags).
_COMPANY_FEATURES = frozenset({"password_hash_sync", "password_writeback"})


def is_default_rule(rule: SyncRule) -> bool:
    """Microsoft's out-of-box rules change with every upgrade: compare them only between equal builds."""
    return rule.is_standard or (rule.immutable_tag or "").startswith("Microsoft.")


def _rule_key(rule: SyncRule) -> tuple[str, str, str]:
    return (rule.connector.lower(), rule.name.lower(), rule.direction.lower())


def _dns(values: tuple[str, ...]) -> set[str]:
    return {v.strip().lower() for v in values}


def _set_diff(label: str, mine: set[str], theirs: set[str]) -> list[str]:
    parts = []
    if theirs - mine:
        parts.append(f"{label} missing here: {', '.join(sorted(theirs - mine))}")
    if mine - theirs:
        parts.append(f"{label} only here: {', '.join(sorted(mine - theirs))}")
    return parts


def partition_diff(mine: Partition, theirs: Partition) -> list[str]:
    parts = []
    if mine.selected != theirs.selected:
        parts.append(f"selected {mine.selected} here, {theirs.selected} on active")
    parts += _set_diff("OU inclusions", _dns(mine.inclusions), _dns(theirs.inclusions))
    parts += _set_diff("OU exclusions", _dns(mine.exclusions), _dns(theirs.exclusions))
    parts += _set_diff("object classes", _dns(mine.object_classes), _dns(theirs.object_classes))
    return parts


def rule_diff(mine: SyncRule, theirs: SyncRule) -> list[str]:
    """What differs between two versions of one rule. Default rules are renumbered by the wizard per connector
    order (multi-forest installs built in another order differ legitimately), so their precedence is not
    compared: tag, disabled and the hashes are (reference §8.3 step 3)."""
    defaults = is_default_rule(mine) and is_default_rule(theirs)
    parts = []
    for attr, label in _RULE_FIELDS:
        if defaults and attr == "precedence":
            continue
        here, there = getattr(mine, attr), getattr(theirs, attr)
        if here != there:
            parts.append(
                f"{label} differ" if attr in _HASHES else f"{label} {there!r} on active, {here!r} here"
            )
    return parts


class _Diff:
    """Collects drift findings with the standby/active values side by side."""

    def __init__(self, report: Reporter, server: HostFacts, active: HostFacts, note: str) -> None:
        self.report, self.server, self.active, self.note = report, server, active, note

    def __call__(self, area: str, item: str, detail: str, **values: Any) -> Finding:
        what = f"{area} {item}" if item else area
        return self.report(
            f"{self.server.host}: {what}: {detail} (vs active {self.active.host}){self.note}",
            area=area,
            item=item,
            active=self.active.host,
            **values,
        )


def _connectors(diff: _Diff, mine: ConfigFacts, theirs: ConfigFacts) -> Iterator[Finding]:
    here: dict[str, ConnectorConfig] = {c.name.lower(): c for c in mine.connectors}
    there: dict[str, ConnectorConfig] = {c.name.lower(): c for c in theirs.connectors}
    for key in sorted(there.keys() - here.keys()):
        yield diff(
            "connector", f"'{there[key].name}'", "missing here", standby=None, active_value=there[key].name
        )
    for key in sorted(here.keys() - there.keys()):
        yield diff("connector", f"'{here[key].name}'", "only here", standby=here[key].name, active_value=None)
    for key in sorted(here.keys() & there.keys()):
        c_mine, c_theirs = here[key], there[key]
        if c_mine.type != c_theirs.type:
            yield diff(
                "connector",
                f"'{c_mine.name}'",
                f"type {c_theirs.type} on active, {c_mine.type} here",
                standby=c_mine.type,
                active_value=c_theirs.type,
            )
        if c_mine.attribute_inclusions_hash != c_theirs.attribute_inclusions_hash:
            yield diff(
                "connector",
                f"'{c_mine.name}'",
                "attribute inclusion list differs",
                standby=c_mine.attribute_inclusions_hash,
                active_value=c_theirs.attribute_inclusions_hash,
            )
        p_here = {p.name.lower(): p for p in c_mine.partitions}
        p_there = {p.name.lower(): p for p in c_theirs.partitions}
        for name in sorted(p_there.keys() - p_here.keys()):
            yield diff(
                "partition",
                f"'{p_there[name].name}' of '{c_mine.name}'",
                "missing here",
                connector=c_mine.name,
                standby=None,
                active_value=p_there[name].name,
            )
        for name in sorted(p_here.keys() - p_there.keys()):
            yield diff(
                "partition",
                f"'{p_here[name].name}' of '{c_mine.name}'",
                "only here",
                connector=c_mine.name,
                standby=p_here[name].name,
                active_value=None,
            )
        for name in sorted(p_here.keys() & p_there.keys()):
            changes = partition_diff(p_here[name], p_there[name])
            if changes:
                yield diff(
                    "partition",
                    f"'{p_here[name].name}' of '{c_mine.name}'",
                    "; ".join(changes),
                    connector=c_mine.name,
                    changes=changes,
                )


def _rules(diff: _Diff, mine: ConfigFacts, theirs: ConfigFacts, defaults_too: bool) -> Iterator[Finding]:
    def wanted(rules: tuple[SyncRule, ...]) -> dict[tuple[str, str, str], SyncRule]:
        return {_rule_key(r): r for r in rules if defaults_too or not is_default_rule(r)}

    here, there = wanted(mine.rules), wanted(theirs.rules)

    def label(rule: SyncRule) -> str:
        return f"'{rule.name}' ({rule.connector}, {rule.direction})"

    for key in sorted(there.keys() - here.keys()):
        yield diff(
            "sync rule",
            label(there[key]),
            "missing here",
            rule=there[key].name,
            standby=None,
            active_value=there[key].name,
        )
    for key in sorted(here.keys() - there.keys()):
        yield diff(
            "sync rule",
            label(here[key]),
            "only here",
            rule=here[key].name,
            standby=here[key].name,
            active_value=None,
        )
    for key in sorted(here.keys() & there.keys()):
        changes = rule_diff(here[key], there[key])
        if changes:
            yield diff(
                "sync rule", label(here[key]), "; ".join(changes), rule=here[key].name, changes=changes
            )


def feature_state(config: ConfigFacts, feature: str) -> bool | None:
    """A feature as the server reports it; when its own read failed, the tenant's flag
    (Get-ADSyncAADCompanyFeature) for PHS and password writeback; None when neither is known."""
    if feature in config.features and config.features[feature] is None:
        company = (config.company_features or {}).get(feature) if feature in _COMPANY_FEATURES else None
        return company
    return bool(config.features.get(feature))


def feature_error(config: ConfigFacts, feature: str) -> str:
    return (config.feature_errors or {}).get(feature) or "no value reported"


def _features(diff: _Diff, mine: ConfigFacts, theirs: ConfigFacts) -> Iterator[Finding]:
    for feature in sorted(mine.features.keys() | theirs.features.keys()):
        here, there = feature_state(mine, feature), feature_state(theirs, feature)
        if here is None or there is None:
            where = [(diff.server.host, mine)] if here is None else []
            where += [(diff.active.host, theirs)] if there is None else []
            unread = "; ".join(f"{host}: {feature_error(config, feature)}" for host, config in where)
            yield diff.report(
                f"{diff.server.host}: optional feature {feature}: cannot compare with active "
                f"{diff.active.host}: it could not be read ({unread}){diff.note}",
                severity=Severity.MEDIUM,
                remediation="fix the read on the server named (the ADSync cmdlet's error is quoted), "
                "then re-run",
                area="optional feature",
                item=feature,
                active=diff.active.host,
                standby=here,
                active_value=there,
            )
            continue
        if here != there:
            yield diff(
                "optional feature",
                feature,
                f"{'on' if there else 'off'} on active, {'on' if here else 'off'} here",
                standby=here,
                active_value=there,
            )


def _global_settings(diff: _Diff, mine: ConfigFacts, theirs: ConfigFacts) -> Iterator[Finding]:
    """Drift-relevant global settings (sign-in method, UPN and join rules, extension attributes, filters,
    writeback targets, auto-upgrade); only when both servers reported them."""
    if mine.global_settings is None or theirs.global_settings is None:
        return
    for name in sorted(mine.global_settings.keys() | theirs.global_settings.keys(), key=str.lower):
        here, there = mine.global_settings.get(name), theirs.global_settings.get(name)
        if (here or "").lower() == (there or "").lower():
            continue
        yield diff(
            "global setting",
            name,
            f"{there!r} on active, {here!r} here",
            severity=_LOWER_SETTINGS.get(name.lower(), Severity.HIGH),
            standby=here,
            active_value=there,
        )


def _settings(diff: _Diff, mine: ConfigFacts, theirs: ConfigFacts) -> Iterator[Finding]:
    yield from _features(diff, mine, theirs)
    yield from _global_settings(diff, mine, theirs)
    if (mine.source_anchor or "").lower() != (theirs.source_anchor or "").lower():
        yield diff(
            "source anchor",
            "",
            f"{theirs.source_anchor} on active, {mine.source_anchor} here",
            standby=mine.source_anchor,
            active_value=theirs.source_anchor,
        )
    g_mine, g_theirs = mine.deletion_threshold, theirs.deletion_threshold
    if _threshold_key(g_mine) != _threshold_key(g_theirs):
        unknown = g_mine.enabled is None or g_theirs.enabled is None
        yield diff(
            "deletion threshold",
            "",
            f"{_shown_threshold(g_theirs)} on active, {_shown_threshold(g_mine)} here",
            severity=Severity.MEDIUM if unknown else None,
            standby=_threshold_values(g_mine),
            active_value=_threshold_values(g_theirs),
        )


def _threshold_key(guard: DeletionThreshold) -> tuple[object, ...]:
    if not guard.enabled:
        return (guard.enabled,)  # a disabled threshold's leftover value changes nothing
    if guard.mode == "percentage":
        return (True, "percentage", guard.percentage)
    return (True, "count", guard.threshold)


def _shown_threshold(guard: DeletionThreshold) -> str:
    if guard.enabled is None:
        return f"unknown ({guard.error or 'not reported'})"
    if not guard.enabled:
        return "disabled"
    if guard.mode == "percentage":
        return f"enabled at {guard.percentage}%"
    return f"enabled at {guard.threshold}"


def _threshold_values(guard: DeletionThreshold) -> dict[str, object]:
    return {"enabled": guard.enabled, "threshold": guard.threshold, "mode": guard.mode,
            "percentage": guard.percentage}


@check(
    "config-drift",
    title="standby configured like the active",
    severity=Severity.HIGH,
    scope="standby",
    remediation=DRIFT_REMEDIATION,
    needs=("config",),
)
def config_drift(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("config-drift", pair, server)
    active = pair.active
    if active is None:
        yield no_active_finding(report, pair, server)
        return
    mine, theirs = server.config, active.config
    same_build = (mine.server_configuration_version or "") == (theirs.server_configuration_version or "")
    note = (
        ""
        if same_build
        else (
            f" [configuration versions differ: {mine.server_configuration_version} here, "
            f"{theirs.server_configuration_version} on active; default rules not compared]"
        )
    )
    diff = _Diff(report, server, active, note)
    yield from _connectors(diff, mine, theirs)
    yield from _rules(diff, mine, theirs, defaults_too=same_build)
    yield from _settings(diff, mine, theirs)
