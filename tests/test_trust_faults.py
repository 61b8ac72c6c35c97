"""Issue 12: transport faults on each server of the pair, and a secret search over every byte an audit, its
reports and the drill write.

Faults: each lab transport fault on one server at a time. The faulted host errors with its reason, within
its bounds; the other host keeps every fact; nothing raises; no log record carries a traceback or the
password. Short timeouts keep the matrix fast (a stall costs ``read_timeout``).
"""

from __future__ import annotations

import base64
import copy
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from drillkit import drill_lab
from spine_helpers import ROOT, SCENARIOS, run_checks

from entra_standby.gather import gather
from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab
from entra_standby.probes import PROBE_NAMES

SERVERS = ("aadc01", "aadc02")
# (fault settings, the kinds the faulted host's facts may error with)
FAULTS: list[tuple[str, dict[str, Any], set[str]]] = [
    ("down", {"down": True}, {"unreachable"}),
    ("stall-all", {"stall": ["*"]}, {"unreachable", "deadline"}),
    ("stall-receive", {"stall": ["Receive"]}, {"unreachable", "deadline"}),
    ("stall-command", {"stall": ["Command"]}, {"unreachable", "deadline"}),
    ("http500-create", {"http500": ["Create"]}, {"remoting"}),
    ("http500-command", {"http500": ["Command"]}, {"remoting", "probe"}),
    ("drop-all", {"drop": ["*"]}, {"unreachable", "remoting"}),
    ("drop-receive", {"drop": ["Receive"]}, {"unreachable", "remoting"}),
    ("auth-fail", {"auth_fail": True}, {"auth"}),
]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(SCENARIOS / "healthy-pair.yml", cloud=False) as running:
        yield running


def _fast_inventory(lab: Lab, faulted: str) -> Any:
    """Short timeouts for the faulted host only: the healthy one keeps the defaults, so a loaded machine
    cannot make it look faulty."""
    raw = copy.deepcopy(lab.inventory_dict())
    raw["pairs"][0].pop("cloud", None)
    address = lab.servers[faulted].address
    for server in raw["pairs"][0]["servers"]:
        if server["host"] == address:
            server.setdefault("connection", {}).update(read_timeout=2, operation_timeout=1, connect_timeout=1,
                                                       host_timeout=8, retries=1)
    return inventory_from_dict(raw, path=ROOT / "inventory" / "lab.yml")


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize(("fault", "kinds"), [pytest.param(f, k, id=i) for i, f, k in FAULTS])
def test_transport_fault_on_one_server(lab: Lab, server: str, fault: dict[str, Any], kinds: set[str],
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    lab.clear_faults()
    lab.set_fault(server, **fault)
    try:
        t0 = time.monotonic()
        run = gather(_fast_inventory(lab, server))
        elapsed = time.monotonic() - t0
    finally:
        lab.clear_faults()
    address = lab.servers[server].address
    facts = {h.host: h for h in run.pairs[0].servers}
    faulted = facts.pop(address)
    (healthy,) = facts.values()
    assert sorted(healthy.values) == sorted(PROBE_NAMES), healthy.errors
    assert faulted.errors, "the fault went unnoticed"
    assert {e.kind for e in faulted.errors.values()} <= kinds, faulted.errors
    assert all("\n" not in e.message for e in faulted.errors.values())
    assert elapsed < 8 + 2 + 6  # host deadline + gather's grace + margin for a loaded machine
    assert "Traceback" not in caplog.text
    assert lab.credentials is not None and lab.credentials.password not in caplog.text


def test_fault_matrix_size() -> None:
    cases = len(FAULTS) * len(SERVERS)
    print(f"transport fault matrix: {len(FAULTS)} faults x {len(SERVERS)} servers = {cases} cases")
    assert cases >= 16


def _forms(secret: str) -> dict[str, bytes]:
    raw = secret.encode()
    return {"plain": raw, "base64": base64.b64encode(raw), "utf-16le": secret.encode("utf-16-le"),
            "base64-utf-16le": base64.b64encode(secret.encode("utf-16-le"))}


def _search(out: Path, stdout: str, stderr: str, secrets: dict[str, str]) -> tuple[list[str], int, int]:
    """Every byte of every file under ``out`` and of the run's stdout/stderr, for every form of every
    secret. Returns (leaks, outputs searched, bytes searched)."""
    blobs = {str(p): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    blobs["stdout"], blobs["stderr"] = stdout.encode(), stderr.encode()
    leaks = [f"{what} ({form}) in {where}" for what, secret in secrets.items()
             for form, needle in _forms(secret).items() for where, blob in blobs.items() if needle in blob]
    return leaks, len(blobs), sum(len(b) for b in blobs.values())


def test_no_secret_in_any_byte_an_audit_writes(tmp_path: Path) -> None:
    """A full audit (pytest checks/) against the lab with one host failing auth, writing every report it
    can (JUnit, evidence, --readiness-report, --summary, --results-json) and DEBUG logs: the password and
    the cloud secret, plain, base64, UTF-16LE and base64(UTF-16LE), appear in no byte of it."""
    with Lab(SCENARIOS / "healthy-pair.yml") as lab:
        inventory = lab.write_inventory(tmp_path / "inventory" / "lab-inv.yml")
        lab.set_fault("aadc02", auth_fail=True)
        out = tmp_path / "out"
        result = run_checks("--inventory", str(inventory), "--evidence", str(out / "evidence"),
                            f"--junitxml={out / 'audit.xml'}", "--readiness-report", str(out / "readiness"),
                            "--summary", str(out / "summary.md"), "--results-json", str(out / "results.json"),
                            "-rA", "--log-level=DEBUG", timeout=240)
        assert lab.credentials is not None
        secrets = {"password": lab.credentials.password}
        if lab.cloud is not None:
            secrets["cloud secret"] = lab.cloud.client_secret
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for report in ("audit.xml", "summary.md", "results.json", "readiness/entra-standby.junit.xml",
                   "readiness/entra-standby-summary.md", "readiness/entra-standby-results.json"):
        assert report in written, sorted(written)
    assert any(p.startswith("evidence/") for p in written), sorted(written)
    leaks, outputs, size = _search(out, result.stdout, result.stderr, secrets)
    assert not leaks, leaks
    assert "Traceback" not in result.stdout + result.stderr
    print(f"secret search (audit): {outputs} outputs, {size} bytes, {len(secrets) * 4} needles, 0 leaks")


def test_no_secret_in_any_byte_a_drill_writes(tmp_path: Path) -> None:
    """A full lab drill (failover and failback, cloud verification) with --drill-report and DEBUG logs: its
    JUnit file, JSON audit log and output hold no form of the password or the cloud secret."""
    with drill_lab(tmp_path) as d:
        inventory = d.lab.write_inventory(tmp_path / "inventory.yml")
        out = tmp_path / "out"
        result = run_checks("--inventory", str(inventory), "--drill", "--ignore-maintenance-window",
                            "--drill-report", str(out), "--drill-lock-dir", str(tmp_path / "locks"),
                            "-rA", "--log-level=DEBUG", paths=("checks/drills",), timeout=180)
        assert d.lab.credentials is not None and d.lab.cloud is not None
        secrets = {"password": d.lab.credentials.password, "cloud secret": d.lab.cloud.client_secret}
    assert result.returncode == 0, result.output[-3000:]
    written = sorted(p.name for p in out.iterdir())
    assert any(n.endswith(".junit.xml") for n in written) and any(n.endswith(".audit.json") for n in written)
    leaks, outputs, size = _search(out, result.stdout, result.stderr, secrets)
    assert not leaks, leaks
    assert "Traceback" not in result.stdout + result.stderr
    print(f"secret search (drill): {outputs} outputs, {size} bytes, {len(secrets) * 4} needles, 0 leaks")


def test_the_secret_search_finds_every_form(tmp_path: Path) -> None:
    """The search can fail: each form of a planted secret, in a nested file or in stderr, is found."""
    secret = "Pl4nted-s3cret!"
    for form, needle in _forms(secret).items():
        out = tmp_path / form / "deep"
        out.mkdir(parents=True)
        (out / "report.bin").write_bytes(b"<xml>" + needle + b"</xml>")
        leaks, outputs, _ = _search(tmp_path / form, "", "", {"s": secret})
        assert leaks == [f"s ({form}) in {out / 'report.bin'}"], (form, leaks)
        assert outputs == 3
    leaks, _, _ = _search(tmp_path / "plain", "", f"error: {secret}", {"s": secret})
    assert any(leak.endswith("in stderr") for leak in leaks), leaks
