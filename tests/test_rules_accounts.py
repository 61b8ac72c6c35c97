"""connector-account: the MSOL_ account is usable; the standby's rights cover the active's and features."""

from __future__ import annotations

import dataclasses

from factbuilders import (
    OUS,
    ROOT,
    ace,
    ad_connector,
    change,
    change_ad_connector,
    healthy_pair,
    run,
    run_all_hosts,
    set_role,
)

from entra_standby.facts.collection import PairFacts
from entra_standby.facts.model import ObjectPermissions
from entra_standby.rules import Severity
from entra_standby.rules import guids as g
from entra_standby.rules.accounts import Grant, covers


def _without(pair: PairFacts, host: str, object_type: str, dn: str | None = None) -> PairFacts:
    """Remove every ACE on ``object_type`` from the host's AD account (on one object, or all)."""
    perms = tuple(
        dataclasses.replace(o, aces=tuple(a for a in o.aces if a.object_type != object_type))
        if dn is None or o.object_dn == dn
        else o
        for o in ad_connector(pair, host).permissions
    )
    return change_ad_connector(pair, host, permissions=perms)


def _add(pair: PairFacts, host: str, dn: str, rights: tuple[str, ...], object_type: str) -> PairFacts:
    conn = ad_connector(pair, host)
    identity = f"CONTOSO\\{conn.account_user}"
    perms = tuple(
        dataclasses.replace(o, aces=(*o.aces, ace(identity, rights, object_type))) if o.object_dn == dn else o
        for o in conn.permissions
    )
    return change_ad_connector(pair, host, permissions=perms)


def test_healthy_pair_passes() -> None:
    assert run_all_hosts("connector-account", healthy_pair()) == []


def test_ace_coverage_rules() -> None:
    reset = Grant("ExtendedRight", g.USER_FORCE_CHANGE_PASSWORD)
    assert covers([ace("x", ("ExtendedRight",), g.USER_FORCE_CHANGE_PASSWORD)], reset)
    assert covers([ace("x", ("GenericAll",), g.ALL_OBJECTS)], reset)  # GenericAll on everything implies it
    assert not covers([ace("x", ("ExtendedRight",), g.UNEXPIRE_PASSWORD)], reset)
    assert not covers(
        [
            ace("x", ("ExtendedRight",), g.USER_FORCE_CHANGE_PASSWORD),
            ace("x", ("ExtendedRight",), g.USER_FORCE_CHANGE_PASSWORD, access="Deny"),
        ],
        reset,
    )
    assert not covers([ace("x", ("GenericRead",), g.ALL_OBJECTS)], Grant("GenericAll", g.ALL_OBJECTS))


def test_account_state_problems_are_all_reported() -> None:
    pair = healthy_pair()
    account = dataclasses.replace(
        ad_connector(pair, "aadc02").account,  # type: ignore[type-var]
        enabled=False,
        locked_out=True,
        password_expired=True,
    )
    pair = change_ad_connector(pair, "aadc02", account=account)
    findings = run("connector-account", pair, "aadc02")
    assert len(findings) == 3
    assert all(
        "contoso.com\\MSOL_aadc0200000" in f.message and f.message.startswith("aadc02:") for f in findings
    )
    assert {k for f in findings for k in f.values} >= {"enabled", "locked_out", "password_expired"}
    assert any("Unlock-ADAccount" in f.remediation for f in findings)
    assert any("Enable-ADAccount" in f.remediation for f in findings)


def test_account_not_found_is_critical_on_the_active_too() -> None:
    pair = healthy_pair()
    account = dataclasses.replace(ad_connector(pair, "aadc01").account, found=False)  # type: ignore[type-var]
    [finding] = run("connector-account", change_ad_connector(pair, "aadc01", account=account), "aadc01")
    assert "not found" in finding.message and finding.severity is Severity.CRITICAL


def test_missing_phs_right_on_domain_root_names_right_and_cmdlet() -> None:
    pair = _without(healthy_pair(), "aadc02", g.DS_REPLICATION_GET_CHANGES_ALL)
    [finding] = run("connector-account", pair, "aadc02")
    assert "Replicating Directory Changes All" in finding.message and ROOT in finding.message
    assert finding.values["feature"] == "password_hash_sync"
    assert finding.values["missing"] == [
        f"ExtendedRight Replicating Directory Changes All ({g.DS_REPLICATION_GET_CHANGES_ALL})"
    ]
    assert (
        "Set-ADSyncPasswordHashSyncPermissions -ADConnectorAccountName MSOL_aadc0200000 "
        "-ADConnectorAccountDomain contoso.com"
    ) in finding.remediation
    assert "-ADobjectDN" not in finding.remediation


def test_missing_writeback_right_is_reported_on_every_ou() -> None:
    pair = _without(healthy_pair(), "aadc02", g.USER_FORCE_CHANGE_PASSWORD)
    findings = run("connector-account", pair, "aadc02")
    assert sorted(f.values["object_dn"] for f in findings) == sorted(OUS)
    assert all(
        "Reset Password" in f.message and f.values["feature"] == "password_writeback" for f in findings
    )
    assert all(
        "Set-ADSyncPasswordWritebackPermissions" in f.remediation and "-ADobjectDN" in f.remediation
        for f in findings
    )


def test_feature_off_means_its_rights_are_not_required() -> None:
    pair = _without(healthy_pair(), "aadc01", g.MS_DS_CONSISTENCY_GUID)
    assert len(run("connector-account", pair, "aadc01")) == 2  # two OUs
    pair = change(pair, "aadc01", "config", source_anchor="objectGUID")
    assert run("connector-account", pair, "aadc01") == []


def test_standby_must_hold_the_actives_extra_delegations() -> None:
    # The active's account got an extra grant after install (an Exchange attribute); the standby's did not.
    extra = "bf967a7a-0de6-11d0-a285-00aa003049e2"
    pair = _add(healthy_pair(), "aadc01", OUS[0], ("WriteProperty",), extra)
    [finding] = run("connector-account", pair, "aadc02")
    assert finding.values["object_dn"] == OUS[0] and finding.values["active"] == "aadc01"
    assert finding.values["missing"] == [f"WriteProperty {extra}"]
    assert "MSOL_aadc0100000" in finding.message and "MSOL_aadc0200000" in finding.message
    assert "dsacls" in finding.remediation
    # A broader grant on the standby covers it; the active itself is never compared.
    wider = _add(pair, "aadc02", OUS[0], ("GenericWrite",), g.ALL_OBJECTS)
    assert run("connector-account", wider, "aadc02") == []
    assert run("connector-account", pair, "aadc01") == []


def test_standby_features_union_with_active() -> None:
    # Writeback off on the standby but on for the active: the standby still needs the rights to take over.
    pair = change(
        healthy_pair(),
        "aadc02",
        "config",
        features={**healthy_pair().server("aadc02").config.features, "password_writeback": False},
    )
    pair = _without(pair, "aadc02", g.LOCKOUT_TIME)
    findings = run("connector-account", pair, "aadc02")
    assert len(findings) == 2 and all("lockoutTime" in f.message for f in findings)


def test_unreadable_rights_are_reported_not_guessed() -> None:
    pair = change_ad_connector(
        healthy_pair(), "aadc02", permissions=(), permissions_error="double hop: access denied"
    )
    [finding] = run("connector-account", pair, "aadc02")
    assert "could not be read" in finding.message and "double hop" in finding.message
    pair = change_ad_connector(healthy_pair(), "aadc01", permissions=(), permissions_error="no AD module")
    [finding] = run("connector-account", pair, "aadc02")
    assert "cannot compare" in finding.message and finding.values["active"] == "aadc01"


def test_objects_not_read_on_the_standby_are_left_to_config_drift() -> None:
    extra_ou = "OU=Contractors,DC=contoso,DC=com"
    pair = healthy_pair()
    for host in ("aadc01", "aadc02"):
        conn = ad_connector(pair, host)
        same_as_staff = next(o for o in conn.permissions if o.object_dn == OUS[0]).aces
        perms = (*conn.permissions, ObjectPermissions(extra_ou, "ou", same_as_staff))
        pair = change_ad_connector(pair, host, permissions=perms)
        if host == "aadc01":
            only_active = pair
    # Read on both: the standby holds the right, nothing to report; read on the active only: not guessed.
    assert run("connector-account", pair, "aadc02") == []
    assert run("connector-account", only_active, "aadc02") == []
    # Read on both but the standby lacks the grant there: reported with the basic-read cmdlet.
    pair = _without(pair, "aadc02", g.ALL_OBJECTS, dn=extra_ou)
    [finding] = run("connector-account", pair, "aadc02")
    assert finding.values["object_dn"] == extra_ou and "ReadProperty (all)" in finding.message
    assert "Set-ADSyncBasicReadPermissions" in finding.remediation


def test_standby_without_active_says_so() -> None:
    findings = run("connector-account", set_role(healthy_pair(), "aadc01", "standby"), "aadc02")
    assert [f.message for f in findings if "no active server" in f.message]
