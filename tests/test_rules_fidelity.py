"""Rule behaviour demanded by the probe-fidelity review (../shared/reference/probe-review.md): C3/C5 (what an
ACE reaches), C1 (double hop named), CF2 (unreadable features), CF3/CF5/CF6 (drift fingerprint), CF4/P1
(deletion threshold and pending deletes)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from factbuilders import AAD, AD, OUS, ROOT, ZERO, ace, change, change_ad_connector, healthy_pair, run

from entra_standby.facts.collection import PairFacts
from entra_standby.facts.model import (
    Ace,
    ConfigFacts,
    DeletionThreshold,
    ObjectPermissions,
    PendingExport,
    SyncRule,
)
from entra_standby.rules import Severity
from entra_standby.rules import guids as g

IDENTITY = "CONTOSO\\MSOL_x"


def _with_permissions(
    pair: PairFacts, root_aces: tuple[Ace, ...], ou_aces: tuple[Ace, ...], host: str = "aadc02"
) -> PairFacts:
    perms = (
        ObjectPermissions(ROOT, "domain-root", root_aces),
        *(ObjectPermissions(ou, "ou", ou_aces) for ou in OUS),
    )
    return change_ad_connector(pair, host, permissions=perms)


def _users(
    rights: tuple[str, ...],
    object_type: str,
    *,
    inheritance: str = "Descendents",
    inherited_object_type: str = g.USER_CLASS,
    access: str = "Allow",
) -> Ace:
    return ace(
        IDENTITY,
        rights,
        object_type,
        inheritance=inheritance,
        inherited_object_type=inherited_object_type,
        access=access,
    )


_PHS_ROOT = (
    ace(IDENTITY, ("ExtendedRight",), g.DS_REPLICATION_GET_CHANGES),
    ace(IDENTITY, ("ExtendedRight",), g.DS_REPLICATION_GET_CHANGES_ALL),
)
_PWWB_OU = (
    _users(("ReadProperty",), ZERO),
    _users(("ExtendedRight",), g.USER_FORCE_CHANGE_PASSWORD),
    _users(("ExtendedRight",), g.UNEXPIRE_PASSWORD),
    _users(("ReadProperty", "WriteProperty"), g.LOCKOUT_TIME),
    _users(("ReadProperty", "WriteProperty"), g.PWD_LAST_SET),
    _users(("ReadProperty", "WriteProperty"), g.MS_DS_CONSISTENCY_GUID),
)


def _no_active(pair: PairFacts) -> PairFacts:
    """Only aadc02's own requirements: make it the active so no comparison with another account happens."""
    return dataclasses.replace(
        pair, servers=tuple(dataclasses.replace(s, role="active") for s in pair.servers if s.host == "aadc02")
    )


# --- C3: inheritance and inherited object type ----------------------------------------------------------


@pytest.mark.parametrize("inheritance", ["Descendents", "Children"])
def test_phs_rights_that_only_inherit_do_not_cover_the_domain_root(inheritance: str) -> None:
    root = tuple(dataclasses.replace(a, inheritance=inheritance) for a in _PHS_ROOT)
    pair = _no_active(_with_permissions(healthy_pair(), root, _PWWB_OU))
    findings = run("connector-account", pair, "aadc02")
    assert findings and all("password_hash_sync" in f.message for f in findings)
    assert "lacks ExtendedRight Replicating Directory Changes" in findings[0].message


@pytest.mark.parametrize("inheritance", ["None", "All", "SelfAndChildren"])
def test_phs_rights_on_the_root_itself_pass(inheritance: str) -> None:
    root = tuple(dataclasses.replace(a, inheritance=inheritance) for a in _PHS_ROOT)
    pair = _no_active(_with_permissions(healthy_pair(), root, _PWWB_OU))
    assert run("connector-account", pair, "aadc02") == []


def test_reset_password_for_this_ou_only_does_not_reach_users() -> None:
    ou = tuple(
        dataclasses.replace(a, inheritance="None") if a.object_type == g.USER_FORCE_CHANGE_PASSWORD else a
        for a in _PWWB_OU
    )
    pair = _no_active(_with_permissions(healthy_pair(), _PHS_ROOT, ou))
    findings = run("connector-account", pair, "aadc02")
    assert len(findings) == len(OUS)
    assert all(
        "lacks ExtendedRight Reset Password" in f.message and "inherited to users" in f.message
        for f in findings
    )


def test_reset_password_inherited_to_another_class_does_not_reach_users() -> None:
    group_class = "bf967a9c-0de6-11d0-a285-00aa003049e2"  # schemaIDGUID of class group
    ou = tuple(
        dataclasses.replace(a, inherited_object_type=group_class)
        if a.object_type == g.USER_FORCE_CHANGE_PASSWORD
        else a
        for a in _PWWB_OU
    )
    pair = _no_active(_with_permissions(healthy_pair(), _PHS_ROOT, ou))
    assert len(run("connector-account", pair, "aadc02")) == len(OUS)


def test_ou_grants_for_every_object_class_reach_users() -> None:
    ou = tuple(dataclasses.replace(a, inherited_object_type=ZERO, inheritance="All") for a in _PWWB_OU)
    assert (
        run("connector-account", _no_active(_with_permissions(healthy_pair(), _PHS_ROOT, ou)), "aadc02") == []
    )


def test_deny_only_counts_where_it_reaches() -> None:
    from entra_standby.rules.accounts import SELF, USERS, Grant, covers, reaches

    grant = Grant("ExtendedRight", g.USER_FORCE_CHANGE_PASSWORD, USERS)
    allow = _users(("ExtendedRight",), g.USER_FORCE_CHANGE_PASSWORD)
    deny_self = _users(("ExtendedRight",), g.USER_FORCE_CHANGE_PASSWORD, inheritance="None", access="Deny")
    deny_users = _users(("ExtendedRight",), g.USER_FORCE_CHANGE_PASSWORD, access="Deny")
    assert covers((allow, deny_self), grant)
    assert not covers((allow, deny_users), grant)
    assert reaches(allow, USERS) and not reaches(allow, SELF)


# --- C5: property sets ----------------------------------------------------------------------------------


def test_write_on_user_account_restrictions_covers_pwd_last_set() -> None:
    from entra_standby.rules.accounts import USERS, Grant, covers

    kept = tuple(a for a in _PWWB_OU if a.object_type != g.PWD_LAST_SET)
    ou = (*kept, _users(("ReadProperty", "WriteProperty"), g.USER_ACCOUNT_RESTRICTIONS))
    assert (
        run("connector-account", _no_active(_with_permissions(healthy_pair(), _PHS_ROOT, ou)), "aadc02") == []
    )
    assert covers(ou, Grant("WriteProperty", g.PWD_LAST_SET, USERS))
    set_only = (_users(("WriteProperty",), g.USER_ACCOUNT_RESTRICTIONS),)
    assert not covers(set_only, Grant("WriteProperty", g.LOCKOUT_TIME, USERS))  # in no property set


# --- C1: double hop -------------------------------------------------------------------------------------


def test_double_hop_failure_is_named_with_its_fix() -> None:
    error = (
        "account lookup failed (Failed): Unable to contact the server. This may be because this server does "
        "not exist, it is currently down, or it does not have the Active Directory Web Services running."
    )
    pair = change_ad_connector(
        healthy_pair(), "aadc02", permissions=(), permissions_error=error, permissions_error_kind="double-hop"
    )
    [finding] = [f for f in run("connector-account", pair, "aadc02") if "could not be read" in f.message]
    assert "double hop" in finding.message and "rights could not be read" not in finding.message
    assert "delegation" in finding.remediation and "CredSSP" in finding.remediation
    assert "tool host" in finding.remediation


def test_other_permission_failures_keep_their_message() -> None:
    pair = change_ad_connector(
        healthy_pair(), "aadc02", permissions=(), permissions_error="DC=x: AccessDenied: no"
    )
    [finding] = run("connector-account", pair, "aadc02")
    assert "rights of" in finding.message and "double hop" not in finding.message


# --- CF2: unreadable features ---------------------------------------------------------------------------


def _features(
    pair: PairFacts,
    host: str,
    errors: dict[str, str],
    company: dict[str, bool | None] | None = None,
    **features: bool | None,
) -> PairFacts:
    config = pair.server(host).config
    return change(
        pair,
        host,
        "config",
        features={**config.features, **features},
        feature_errors=errors,
        company_features=company,
    )


def test_unreadable_phs_is_not_off_in_drift() -> None:
    pair = _features(
        healthy_pair(),
        "aadc02",
        {"password_hash_sync": "connection to the database lost"},
        password_hash_sync=None,
    )
    [finding] = run("config-drift", pair, "aadc02")
    assert "cannot compare" in finding.message and "connection to the database lost" in finding.message
    assert "off here" not in finding.message and finding.severity is Severity.MEDIUM


def test_unreadable_phs_falls_back_to_the_tenant_flag() -> None:
    pair = _features(
        healthy_pair(),
        "aadc02",
        {"password_hash_sync": "timeout"},
        {"password_hash_sync": True, "password_writeback": True},
        password_hash_sync=None,
    )
    assert run("config-drift", pair, "aadc02") == []


def test_unreadable_phs_still_requires_replication_rights() -> None:
    pair = _features(healthy_pair(), "aadc02", {"password_hash_sync": "timeout"}, password_hash_sync=None)
    pair = _features(pair, "aadc01", {"password_hash_sync": "timeout"}, password_hash_sync=None)
    pair = _no_active(_with_permissions(pair, (), _PWWB_OU))
    findings = run("connector-account", pair, "aadc02")
    assert findings and all("could not be read on aadc02 (timeout)" in f.message for f in findings)
    # Read as off: not required.
    off = _no_active(
        _with_permissions(_features(healthy_pair(), "aadc02", {}, password_hash_sync=False), (), _PWWB_OU)
    )
    assert run("connector-account", off, "aadc02") == []


# --- CF3: global settings --------------------------------------------------------------------------------


def _settings(pair: PairFacts, host: str, **values: str | None) -> PairFacts:
    base = {
        "Microsoft.UserSignIn.SignOnMethod": "PasswordHashSync",
        "Microsoft.SynchronizationOption.UPNAttribute": "userPrincipalName",
        "Microsoft.OptionalFeature.AutoUpgradeState": "Enabled",
    }
    return change(
        pair, host, "config", global_settings={**base, **{k.replace("__", "."): v for k, v in values.items()}}
    )


def test_global_setting_drift_is_reported() -> None:
    pair = _settings(
        _settings(healthy_pair(), "aadc01"),
        "aadc02",
        Microsoft__SynchronizationOption__UPNAttribute="mail",
        Microsoft__OptionalFeature__AutoUpgradeState="Suspended",
    )
    findings = {f.values["item"]: f for f in run("config-drift", pair, "aadc02")}
    upn = findings["Microsoft.SynchronizationOption.UPNAttribute"]
    assert "'userPrincipalName' on active, 'mail' here" in upn.message and upn.severity is Severity.HIGH
    assert findings["Microsoft.OptionalFeature.AutoUpgradeState"].severity is Severity.MEDIUM


def test_global_settings_equal_ignoring_case_pass() -> None:
    pair = _settings(
        _settings(healthy_pair(), "aadc01"), "aadc02", Microsoft__UserSignIn__SignOnMethod="passwordhashsync"
    )
    assert run("config-drift", pair, "aadc02") == []


# --- CF5 / CF6: rules -----------------------------------------------------------------------------------


def _rule(pair: PairFacts, host: str, name: str, **fields: Any) -> PairFacts:
    config: ConfigFacts = pair.server(host).config
    rules = tuple(dataclasses.replace(r, **fields) if r.name == name else r for r in config.rules)
    return change(pair, host, "config", rules=rules)


def _custom(config: ConfigFacts) -> SyncRule:
    return next(r for r in config.rules if not r.immutable_tag)


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("enable_password_sync", True, "password hash sync"),
        ("soft_delete_expiry_interval_s", 86400.0, "soft-delete expiry interval"),
        ("tag_version", "011", "tag version"),
    ],
)
def test_rule_fields_beyond_the_hashes_drift(field: str, value: object, label: str) -> None:
    name = "In from AD - User Join"
    [finding] = run("config-drift", _rule(healthy_pair(), "aadc02", name, **{field: value}), "aadc02")
    assert label in finding.message


def test_default_rule_precedence_is_not_drift() -> None:
    pair = _rule(healthy_pair(), "aadc02", "In from AD - User Join", precedence=105)
    assert run("config-drift", pair, "aadc02") == []
    disabled = _rule(pair, "aadc02", "In from AD - User Join", disabled=True)
    [finding] = run("config-drift", disabled, "aadc02")
    assert "disabled False on active, True here" in finding.message and "precedence" not in finding.message


def test_custom_rule_precedence_still_drifts() -> None:
    pair = healthy_pair()
    custom = _custom(pair.server("aadc02").config)
    [finding] = run(
        "config-drift", _rule(pair, "aadc02", custom.name, precedence=custom.precedence + 1), "aadc02"
    )
    assert "precedence" in finding.message


# --- CF4 / P1: deletion threshold and pending deletes ----------------------------------------------------


def _pending(pair: PairFacts, *rows: PendingExport) -> PairFacts:
    return change(pair, "aadc02", "pending-exports", connectors=rows)


def test_pending_deletes_to_ad_are_critical_without_claiming_a_safety_net() -> None:
    [finding] = run("pending-exports", _pending(healthy_pair(), PendingExport(AD, 0, 0, 1200)), "aadc02")
    assert finding.severity is Severity.CRITICAL
    assert (
        "in Active Directory" in finding.message
        and "no deletion threshold guards exports to AD" in finding.message
    )
    assert "above the export deletion threshold" not in finding.message


def test_pending_deletes_to_entra_name_the_threshold() -> None:
    [finding] = run("pending-exports", _pending(healthy_pair(), PendingExport(AAD, 0, 0, 1200)), "aadc02")
    assert finding.severity is Severity.CRITICAL and "export to Entra ID" in finding.message


def test_entra_connector_is_found_by_its_fixed_identifier() -> None:
    pair = healthy_pair()
    config = pair.server("aadc02").config
    connectors = tuple(
        dataclasses.replace(c, identifier="b891884f-051e-4a83-95af-2544101c9083")
        if c.name == AAD
        else dataclasses.replace(c, identifier="0d3f5a1e-2c4b-4e8f-9a6d-1b2c3d4e5f60", type="Extensible2")
        for c in config.connectors
    )
    pair = _pending(
        change(pair, "aadc02", "config", connectors=connectors),
        PendingExport(AD, 0, 0, 1200),
        PendingExport(AAD, 0, 0, 1200),
    )
    by_connector = {f.values["connector"]: f.message for f in run("pending-exports", pair, "aadc02")}
    assert "export to Entra ID" in by_connector[AAD] and "in Active Directory" in by_connector[AD]


def test_percentage_threshold_does_not_make_every_delete_critical() -> None:
    guard = DeletionThreshold(True, 0, mode="percentage", percentage=10)
    pair = change(healthy_pair(), "aadc02", "config", deletion_threshold=guard)
    [finding] = run("pending-exports", _pending(pair, PendingExport(AAD, 0, 0, 20)), "aadc02")
    assert finding.severity is Severity.HIGH and "20 pending deletes (limit 10)" in finding.message
    [mass] = run("pending-exports", _pending(pair, PendingExport(AAD, 0, 0, 1200)), "aadc02")
    assert mass.severity is Severity.CRITICAL and "10% of the connector's objects" in mass.message


def test_unknown_threshold_uses_the_default_line_and_drift_says_unknown() -> None:
    guard = DeletionThreshold(
        None,
        error="global setting Microsoft.OptionalFeature.ExportDeletionThreshold is not set on this server",
    )
    pair = change(healthy_pair(), "aadc02", "config", deletion_threshold=guard)
    [finding] = run("pending-exports", _pending(pair, PendingExport(AAD, 0, 0, 600)), "aadc02")
    assert finding.severity is Severity.CRITICAL and "unknown" in finding.message
    [drift] = run("config-drift", pair, "aadc02")
    assert "unknown (global setting" in drift.message and drift.severity is Severity.MEDIUM


def test_percentage_threshold_drift() -> None:
    pct = DeletionThreshold(True, 0, mode="percentage", percentage=10)
    [drift] = run(
        "config-drift", change(healthy_pair(), "aadc02", "config", deletion_threshold=pct), "aadc02"
    )
    assert "enabled at 500 on active, enabled at 10% here" in drift.message
