"""Drill reports: a JUnit file valid against the strict Ant schema, and a secret-free JSON audit log."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import junit_xml
import pytest
import xmlschema

from entra_standby.drill.records import AuditEntry, DrillRecord, RunOutcome, StepOutcome, StepRecord
from entra_standby.drill.report import (
    REDACTED,
    audit_log_dict,
    junit_xml_string,
    scrub,
    write_audit_log,
    write_junit,
    write_reports,
)
from entra_standby.errors import DrillError
from entra_standby.inventory import Secret

XSD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "JUnit.xsd"
T0 = datetime(2026, 11, 28, 1, 0, 5, 250000, tzinfo=UTC)
PLANTED = "Pl4nted-S3cret-value"  # must never reach a report
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhdWRpdG9yIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    if not XSD.is_file():
        pytest.skip(f"{XSD} not present (the shared reference data sits beside the repository)")
    return xmlschema.XMLSchema(str(XSD))


def step(name: str, phase: str, server: str | None, offset_s: float, duration_s: float,
         outcome: StepOutcome = StepOutcome.PASSED, message: str = "") -> StepRecord:
    return StepRecord(name=name, phase=phase, server=server, started_utc=T0 + timedelta(seconds=offset_s),
                      duration_s=duration_s, outcome=outcome, message=message)


def passed_drill() -> DrillRecord:
    record = DrillRecord(pair="contoso-prod", kind="drill", method="global-settings",
                         servers=("aadc01", "aadc02"), started_utc=T0)
    record.steps = [
        step("preflight readiness checks", "preflight", None, 0, 4.5),
        step("stop the scheduler on the active aadc01", "failover", "aadc01", 5, 0.8),
        step("stage the active aadc01", "failover", "aadc01", 6, 1.25),
        step("unstage the standby aadc02", "failover", "aadc02", 8, 1.5),
        step("hold", "failover", None, 10, 300),
        step("switch back", "failback", "aadc01", 310, 40),
    ]
    record.rto_s = {"failover": 95.5, "failback": 88.0}
    record.proven = {"failover": ["aadc02 exported to the tenant"]}
    record.unproven = {"failback": ["canary not seen in the tenant"]}
    record.final_staging = {"aadc01": False, "aadc02": True}
    record.audit = [
        AuditEntry(time_utc=T0 + timedelta(seconds=6), kind="action", name="set-staging", server="aadc01",
                   parameters={"Enabled": True}, result="staging on (re-read)", duration_s=1.2),
    ]
    record.finished_utc = T0 + timedelta(seconds=360)
    return record


def rolled_back() -> DrillRecord:
    record = DrillRecord(pair="fabrikam <&> \"prod\"", kind="switch", method="wizard",
                         servers=("aadc03", "aadc04"), started_utc=T0.replace(tzinfo=None),  # naive: UTC
                         outcome=RunOutcome.ROLLED_BACK)
    record.steps = [
        step("unstage the standby aadc04", "switch", "aadc04", 0, 0.0, StepOutcome.FAILED,
             "the staging flag stayed on after 1800 s\x07 <timeout> & über"),
        step("hold", "switch", None, 1, 0.0, StepOutcome.SKIPPED, "only in a drill"),
        step("restage the standby", "rollback", "aadc04", 2, 2.0),
    ]
    return record


def refused() -> DrillRecord:
    return DrillRecord(pair="contoso-prod", kind="drill", method=None, servers=("aadc01", "aadc02"),
                       started_utc=T0, outcome=RunOutcome.REFUSED,
                       refusal="pair 'contoso-prod' has no switch method", finished_utc=T0)


# --- JUnit -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("records", [
    pytest.param([passed_drill()], id="passed"),
    pytest.param([rolled_back()], id="rolled-back"),
    pytest.param([refused()], id="refused"),
    pytest.param([passed_drill(), rolled_back(), refused()], id="three-runs"),
])
def test_junit_report_validates_against_the_schema(schema: xmlschema.XMLSchema, records: list[DrillRecord],
                                                   tmp_path: Path) -> None:
    path = write_junit(records, tmp_path / "out" / "drill.xml")
    schema.validate(str(path))  # raises with the first violation


def test_junit_xml_output_alone_would_not_validate(schema: xmlschema.XMLSchema) -> None:
    # Why the post-processing exists: junit-xml's own document breaks the strict schema.
    case = junit_xml.TestCase("01 stage", classname="x", elapsed_sec=1.0)
    raw = junit_xml.to_xml_report_string([junit_xml.TestSuite("drill contoso-prod", [case], hostname="h",
                                          timestamp="2026-11-28T01:00:05", properties={"pair": "p"})])
    assert not schema.is_valid(raw)


def test_junit_has_one_suite_per_run_and_one_case_per_step() -> None:
    record = passed_drill()
    root = ET.fromstring(junit_xml_string([record, rolled_back()], hostname="adm01"))
    suites = root.findall("testsuite")
    assert [s.get("id") for s in suites] == ["0", "1"]
    suite = suites[0]
    assert suite.get("name") == "drill contoso-prod" and suite.get("hostname") == "adm01"
    assert suite.get("timestamp") == "2026-11-28T01:00:05"
    assert suite.get("time") == "360.000"  # started -> finished
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("6", "0", "0")
    cases = suite.findall("testcase")
    assert [c.get("time") for c in cases] == [f"{s.duration_s:.3f}" for s in record.steps]
    assert cases[2].get("name") == "03 stage the active aadc01 [aadc01]"
    assert cases[2].get("classname") == "entra-standby.drill.contoso-prod.failover"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["pair"] == "contoso-prod" and props["servers"] == "aadc01, aadc02"
    assert (props["method"], props["kind"], props["outcome"]) == ("global-settings", "drill", "passed")
    assert (props["rto_s.failover"], props["rto_s.failback"]) == ("95.5", "88.0")
    out = suite.findtext("system-out") or ""
    assert "failover: proven: aadc02 exported" in out and "failback: NOT proven: canary" in out


def test_failed_and_skipped_steps_are_failures_and_skips() -> None:
    root = ET.fromstring(junit_xml_string([rolled_back()]))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("skipped"), suite.get("errors")) == ("1", "1", "0")
    failed, skipped, passed = suite.findall("testcase")
    failure = failed.find("failure")
    assert failure is not None and failure.get("type") == "step-failed"
    assert failure.get("message") == "the staging flag stayed on after 1800 s <timeout> & über"  # \x07 gone
    skip = skipped.find("skipped")
    assert skip is not None and skip.get("message") == "only in a drill"
    assert list(passed) == []
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["pair"] == "fabrikam <&> \"prod\"" and props["outcome"] == "rolled-back"


def test_a_refusal_without_steps_still_fails_in_ci() -> None:
    suite = ET.fromstring(junit_xml_string([refused()])).find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    (case,) = suite.findall("testcase")
    failure = case.find("failure")
    assert failure is not None and "no switch method" in (failure.get("message") or "")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["method"] == "none" and "no switch method" in (props["refusal"] or "")


# --- audit log -------------------------------------------------------------------------------------------


def secretive() -> DrillRecord:
    record = passed_drill()
    record.audit.append(AuditEntry(
        time_utc=datetime(2026, 11, 28, 2, 0, 5, tzinfo=UTC).astimezone(), kind="action", name="connect",
        server="aadc02",
        parameters={"Password": PLANTED, "client_secret": PLANTED, "Nested": {"AccessToken": PLANTED,
                    "list": [{"apiKey": PLANTED}]}, "Credential": Secret(PLANTED), "Value": Secret(PLANTED),
                    "Enabled": False, "blob": PLANTED.encode()},
        ok=False, result=f"401: Bearer {PLANTED} rejected; token={PLANTED}; id_token {JWT}"))
    record.steps[0].message = f"password: {PLANTED}"
    return record


def test_audit_log_has_every_entry_and_step_with_utc_times(tmp_path: Path) -> None:
    record = passed_drill()
    path = write_audit_log(record, tmp_path / "audit.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["pair"] == "contoso-prod" and data["outcome"] == "passed"
    assert data["started_utc"] == "2026-11-28T01:00:05.250Z"
    assert len(data["steps"]) == len(record.steps) and len(data["audit"]) == len(record.audit)
    (entry,) = data["audit"]
    assert entry == {"time_utc": "2026-11-28T01:00:11.250Z", "kind": "action", "name": "set-staging",
                     "server": "aadc01", "parameters": {"Enabled": True}, "ok": True,
                     "result": "staging on (re-read)", "duration_s": 1.2}
    assert data["rto_s"] == {"failover": 95.5, "failback": 88.0}
    assert data["final_staging"] == {"aadc01": False, "aadc02": True}


def test_no_secret_reaches_either_report(tmp_path: Path) -> None:
    record = secretive()
    paths = write_reports(record, tmp_path / "reports")
    for path in (paths.junit, paths.audit):
        text = path.read_text(encoding="utf-8")
        assert PLANTED not in text and JWT not in text, path
    entry = audit_log_dict(record)["audit"][-1]
    assert entry["time_utc"] == "2026-11-28T02:00:05.000Z"  # an aware non-UTC time, converted
    params = entry["parameters"]
    assert params["Password"] == params["client_secret"] == params["Credential"] == REDACTED
    assert params["Value"] == REDACTED  # a Secret object, whatever its key
    assert params["Nested"]["AccessToken"] == REDACTED and params["Nested"]["list"][0]["apiKey"] == REDACTED
    assert params["Enabled"] is False and params["blob"] == f"<{len(PLANTED)} bytes>"
    assert entry["result"].startswith("401: Bearer ********") and "token=********" in entry["result"]


def test_scrub_leaves_ordinary_values_alone() -> None:
    value = {"PolicyType": "Delta", "Enabled": True, "count": 3, "ratio": float("nan"),
             "message": "basic authentication is off; the token cache is empty"}
    assert scrub(value) == {"PolicyType": "Delta", "Enabled": True, "count": 3, "ratio": None,
                            "message": "basic authentication is off; the token cache is empty"}


def test_write_reports_names_files_after_kind_pair_and_start(tmp_path: Path) -> None:
    record = passed_drill()
    record.pair = "contoso/prod"
    paths = write_reports(record, tmp_path)
    assert paths.junit.name == "drill-contoso%2Fprod-20261128T010005Z.junit.xml"
    assert paths.audit.name == "drill-contoso%2Fprod-20261128T010005Z.audit.json"
    assert paths.junit.parent == paths.audit.parent == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([paths.junit.name, paths.audit.name])


def test_an_unwritable_report_path_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(DrillError) as info:
        write_reports(passed_drill(), blocker / "reports")
    line = str(info.value)
    assert "cannot write drill report" in line and "--drill-report" in line and "\n" not in line
