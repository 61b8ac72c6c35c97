"""config-drift and pending-exports: what the standby would do differently on its first export."""

from __future__ import annotations

import dataclasses

from factbuilders import AAD, AD, CUSTOM_RULE, OUS, ROOT, change, healthy_pair, run, run_all_hosts, set_role

from entra_standby.facts.collection import PairFacts
from entra_standby.facts.model import (
    ConnectorConfig,
    DeletionThreshold,
    Partition,
    PendingExport,
    PendingExportsFacts,
    SyncRule,
)
from entra_standby.rules import Severity


def _config(pair: PairFacts, host: str, **fields: object) -> PairFacts:
    return change(pair, host, "config", **fields)


def _rules(pair: PairFacts, host: str, name: str, **fields: object) -> tuple[SyncRule, ...]:
    return tuple(
        dataclasses.replace(r, **fields) if r.name == name else r  # type: ignore[arg-type]
        for r in pair.server(host).config.rules
    )


def _ad_partition(pair: PairFacts, host: str, **fields: object) -> tuple[ConnectorConfig, ...]:
    conns = pair.server(host).config.connectors
    return tuple(
        dataclasses.replace(
            c,
            partitions=tuple(
                dataclasses.replace(p, **fields)  # type: ignore[arg-type]
                for p in c.partitions
            ),
        )
        if c.name == AD
        else c
        for c in conns
    )


def test_identical_configuration_passes_and_active_is_not_compared() -> None:
    assert run_all_hosts("config-drift", healthy_pair()) == []
    pair = _config(healthy_pair(), "aadc01", source_anchor="objectGUID")
    assert run("config-drift", pair, "aadc01") == []


def test_every_difference_is_reported_readably() -> None:
    pair = healthy_pair()
    pair = _config(
        pair,
        "aadc02",
        connectors=_ad_partition(pair, "aadc02", inclusions=(OUS[0], "OU=Contractors,DC=contoso,DC=com")),
        rules=_rules(pair, "aadc02", CUSTOM_RULE, disabled=True, flows_hash="other"),
        features={**pair.server("aadc02").config.features, "password_writeback": False},
        deletion_threshold=DeletionThreshold(True, 1000),
    )
    findings = run("config-drift", pair, "aadc02")
    assert {f.values["area"] for f in findings} == {
        "partition",
        "sync rule",
        "optional feature",
        "deletion threshold",
    }
    assert len(findings) == 4
    by_area = {f.values["area"]: f for f in findings}
    part = by_area["partition"].message
    assert ROOT in part and "missing here: ou=groups,dc=contoso,dc=com" in part
    assert "only here: ou=contractors,dc=contoso,dc=com" in part
    rule = by_area["sync rule"]
    assert CUSTOM_RULE in rule.message and "disabled True on active" not in rule.message
    assert "disabled False on active, True here" in rule.message and "attribute flows differ" in rule.message
    assert "on on active, off here" in by_area["optional feature"].message
    assert "enabled at 500 on active, enabled at 1000 here" in by_area["deletion threshold"].message
    assert all(
        f.message.startswith("aadc02:") and "aadc01" in f.message and f.severity is Severity.HIGH
        for f in findings
    )


def test_dn_case_and_order_do_not_count_as_drift() -> None:
    pair = healthy_pair()
    pair = _config(
        pair,
        "aadc02",
        connectors=_ad_partition(pair, "aadc02", inclusions=tuple(o.upper() for o in reversed(OUS))),
    )
    assert run("config-drift", pair, "aadc02") == []


def test_missing_and_extra_connectors_and_rules() -> None:
    pair = healthy_pair()
    cfg = pair.server("aadc02").config
    extra = ConnectorConfig("fabrikam.com", "AD", (Partition("DC=fabrikam,DC=com", True),))
    pair = _config(
        pair,
        "aadc02",
        connectors=(*[c for c in cfg.connectors if c.name != AAD], extra),
        rules=tuple(r for r in cfg.rules if r.name != "In from AD - User Join"),
    )
    findings = run("config-drift", pair, "aadc02")
    messages = sorted(f.message for f in findings)
    assert len(findings) == 3, messages
    assert any(f"connector '{AAD}': missing here" in m for m in messages)
    assert any("connector 'fabrikam.com': only here" in m for m in messages)
    assert any(
        "sync rule 'In from AD - User Join' (contoso.com, Inbound): missing here" in m for m in messages
    )


def test_different_versions_compare_only_custom_rules_and_say_so() -> None:
    pair = healthy_pair()
    pair = _config(
        pair,
        "aadc01",
        server_configuration_version="2.5.190.0",
        rules=_rules(pair, "aadc01", "In from AD - User Join", precedence=99, flows_hash="new"),
    )
    assert run("config-drift", pair, "aadc02") == []  # default rules change with upgrades
    pair = _config(pair, "aadc02", rules=_rules(pair, "aadc02", CUSTOM_RULE, precedence=60))
    [finding] = run("config-drift", pair, "aadc02")
    assert "precedence 50 on active, 60 here" in finding.message
    assert "configuration versions differ: 2.5.79.0 here, 2.5.190.0 on active" in finding.message


def test_no_active_is_a_finding() -> None:
    [finding] = run("config-drift", set_role(healthy_pair(), "aadc01", "standby"), "aadc02")
    assert "no active server in the inventory" in finding.message


# --- pending-exports -------------------------------------------------------------------------------------


def _pending(pair: PairFacts, *rows: PendingExport) -> PairFacts:
    return change(pair, "aadc02", "pending-exports", connectors=rows)


def test_pending_exports_within_limits_pass() -> None:
    pair = _pending(healthy_pair(), PendingExport(AD, 50, 500, 10), PendingExport(AAD, 0, 3, 0))
    assert run("pending-exports", pair, "aadc02") == []
    assert run("pending-exports", healthy_pair(), "aadc01") == []


def test_pending_exports_reports_every_count_over_its_limit() -> None:
    pair = _pending(healthy_pair(), PendingExport(AD, 51, 501, 0), PendingExport(AAD, 0, 0, 11))
    findings = run("pending-exports", pair, "aadc02")
    assert sorted((f.values["connector"], f.values["kind"], f.values["count"]) for f in findings) == [
        (AD, "adds", 51),
        (AD, "updates", 501),
        (AAD, "deletes", 11),
    ]
    assert all(f.severity is Severity.HIGH and "aadc02" in f.message for f in findings)
    assert any(f"'{AAD}' has 11 pending deletes (limit 10)" in f.message for f in findings)


def test_deletes_above_the_export_deletion_threshold_are_critical() -> None:
    pair = _pending(healthy_pair(), PendingExport(AAD, 0, 0, 1200))
    [finding] = run("pending-exports", pair, "aadc02")
    assert finding.severity is Severity.CRITICAL and "deletion threshold 500" in finding.message
    assert finding.values["deletion_threshold"] == 500
    lower = change(pair, "aadc02", "config", deletion_threshold=DeletionThreshold(True, 100))
    pair150 = _pending(lower, PendingExport(AAD, 0, 0, 150))
    assert run("pending-exports", pair150, "aadc02")[0].severity is Severity.CRITICAL


def test_pending_limits_from_inventory() -> None:
    pair = _pending(healthy_pair(thresholds={"max_pending_updates": 0}), PendingExport(AAD, 0, 3, 0))
    [finding] = run("pending-exports", pair, "aadc02")
    assert finding.values["limit"] == 0 and finding.values["count"] == 3
    pair = _pending(healthy_pair(thresholds={"max_pending_deletes": 2000}), PendingExport(AAD, 0, 0, 1200))
    [finding] = run("pending-exports", pair, "aadc02")  # the deletion threshold still applies
    assert finding.severity is Severity.CRITICAL


def test_pending_exports_source_is_in_values() -> None:
    pair = change(
        healthy_pair(),
        "aadc02",
        "pending-exports",
        connectors=PendingExportsFacts((PendingExport(AD, 99, 0, 0),), source="csexport").connectors,
        source="csexport",
    )
    [finding] = run("pending-exports", pair, "aadc02")
    assert finding.values["source"] == "csexport"
