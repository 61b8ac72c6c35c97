"""The catalogue as a whole: ids, severities, scopes, needs, thin checks/ tests, purity, thresholds."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from factbuilders import drop, healthy_pair, run

from entra_standby.errors import FactUnavailableError
from entra_standby.facts.model import HOST_DOMAINS
from entra_standby.rules import Severity, load_all
from entra_standby.rules.thresholds import DEFAULT_THRESHOLDS, threshold

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "entra_standby" / "rules"

CATALOGUE: dict[str, tuple[Severity, str]] = {
    "sync-scheduler": (Severity.HIGH, "host"),
    "adsync-service": (Severity.CRITICAL, "host"),
    "version-supported": (Severity.CRITICAL, "host"),
    "version-parity": (Severity.HIGH, "standby"),
    "tls12": (Severity.HIGH, "host"),
    "dotnet": (Severity.HIGH, "host"),
    "patch-age": (Severity.MEDIUM, "host"),
    "os-build-parity": (Severity.MEDIUM, "standby"),
    "pending-reboot": (Severity.MEDIUM, "host"),
    "os-supported": (Severity.HIGH, "host"),
    "recent-imports": (Severity.HIGH, "standby"),
    "connector-account": (Severity.CRITICAL, "host"),
    "config-drift": (Severity.HIGH, "standby"),
    "pending-exports": (Severity.HIGH, "standby"),
    "deletion-threshold": (Severity.MEDIUM, "host"),
    "machine-identity": (Severity.HIGH, "pair"),
    "adsynctools": (Severity.LOW, "host"),
    "audit-access": (Severity.HIGH, "host"),
    "export-health": (Severity.HIGH, "host"),
    "auto-upgrade": (Severity.MEDIUM, "pair"),
    "database": (Severity.HIGH, "pair"),
    "connect-health-agent": (Severity.MEDIUM, "pair"),
    "proxy-parity": (Severity.HIGH, "standby"),
    "pending-full-sync": (Severity.HIGH, "standby"),
    "entra-connector-identity": (Severity.HIGH, "pair"),
    "password-hash-sync": (Severity.HIGH, "pair"),
    "password-writeback": (Severity.HIGH, "pair"),
}


@pytest.mark.parametrize("check_id", sorted(CATALOGUE))
def test_check_is_registered_as_specified(check_id: str) -> None:
    spec = load_all()[check_id]
    assert (spec.severity, spec.scope) == CATALOGUE[check_id]
    assert spec.remediation.strip() and spec.title.strip()
    assert spec.needs and set(spec.needs) <= set(HOST_DOMAINS)


@pytest.mark.parametrize("check_id", sorted(CATALOGUE))
def test_thin_check_test_exists_with_marker(check_id: str) -> None:
    path = ROOT / "checks" / f"test_{check_id.replace('-', '_')}.py"
    text = path.read_text()
    assert f'@pytest.mark.check("{check_id}")' in text and f'expect_pass("{check_id}", pair' in text
    scope = CATALOGUE[check_id][1]
    assert ("server" in text) == (scope != "pair")


def _evaluated_host(check_id: str) -> str | None:
    return None if CATALOGUE[check_id][1] == "pair" else "aadc02"


@pytest.mark.parametrize("check_id", sorted(CATALOGUE))
def test_each_declared_need_is_really_read(check_id: str) -> None:
    """Dropping any domain in ``needs`` makes the check unavailable (not silently pass)."""
    for domain in load_all()[check_id].needs:
        with pytest.raises(FactUnavailableError, match=domain):
            run(check_id, drop(healthy_pair(), "aadc02", domain), _evaluated_host(check_id))


@pytest.mark.parametrize("check_id", sorted(CATALOGUE))
def test_needs_are_complete(check_id: str) -> None:
    """Dropping every other domain on every server leaves the check working: it reads nothing undeclared."""
    pair = healthy_pair()
    needs = set(load_all()[check_id].needs)
    for host in ("aadc01", "aadc02"):
        for domain in set(HOST_DOMAINS) - needs:
            pair = drop(pair, host, domain)
    assert run(check_id, pair, _evaluated_host(check_id)) == []


def test_check_modules_are_pure() -> None:
    """No wall clock, no I/O, no imports of remoting, cloud, the lab or the plugin in check logic."""
    banned_calls = {"now", "utcnow", "today", "time", "open", "sleep"}
    for path in RULES.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not re.search(r"(remoting|cloud|lab|plugin|gather|requests|pypsrp)", node.module), path
            if isinstance(node, ast.Import):
                assert not any(
                    re.search(r"(remoting|requests|pypsrp|subprocess|socket)", a.name) for a in node.names
                ), path
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                assert name not in banned_calls, f"{path.name}:{node.lineno}: {name}()"


def test_threshold_keys_are_stable_snake_case_and_documented() -> None:
    source = (RULES / "thresholds.py").read_text()
    for key in DEFAULT_THRESHOLDS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", key), key
        # Every key has its own comment line right above it.
        assert re.search(rf"#[^\n]*\n(\s*#[^\n]*\n)*\s*\"{key}\":", source), key
    with pytest.raises(KeyError, match="unknown threshold"):
        threshold(healthy_pair(), "max_pendng_adds")
    assert threshold(healthy_pair(thresholds={"max_pending_adds": 7}), "max_pending_adds") == 7
    assert threshold(healthy_pair(), "max_pending_adds") == 50
