"""The verdict model on real evidence: waivers, the severity gate, pair readiness, the one-screen summary, the
Markdown summary, JUnit (strict schema, a third-party parser) and exit codes. No network: the evidence of
fixtures/evidence was gathered from the lab."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from junitparser import JUnitXml

from entra_standby import exitcodes
from entra_standby.evidence import load_evidence
from entra_standby.reports import ServerInfo, junit_string, results_document
from entra_standby.results import Judged, Policy, Readiness, Status, evaluate_pair, judge, readiness
from entra_standby.rules import Severity, load_all
from entra_standby.summary import markdown, pair_verdicts, terminal_lines
from entra_standby.waivers import WaiverError, parse_waivers

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE = ROOT / "fixtures" / "evidence"
XSD = ROOT.parent / "shared" / "data" / "JUnit.xsd"
NAMES = {"127.0.0.11": "aadc01", "127.0.0.12": "aadc02"}
TODAY = dt.date(2026, 12, 7)
CHECKS = {cid: spec.scope for cid, spec in load_all().items()}
LAYOUT = {"standby-drifted": ["aadc01", "127.0.0.11", "aadc02", "127.0.0.12"]}


def judged_run(scenario: str, policy: Policy) -> list[Judged]:
    facts = load_evidence(EVIDENCE / scenario)
    pair = facts.pair(scenario)
    roles = {s.host: s.role for s in pair.servers}
    return [judge(r, policy, roles.get(r.host or "")) for r in evaluate_pair(pair)]


def policy(fail_on: Severity = Severity.LOW, waivers: Any = None) -> Policy:
    parsed = tuple(parse_waivers(waivers, label="waivers.yml", key="", checks=CHECKS, layout=LAYOUT)) \
        if waivers else ()
    return Policy(fail_on=fail_on, waivers=parsed, today=TODAY, names=NAMES)


def verdicts(scenario: str, judged: list[Judged]) -> Any:
    return pair_verdicts(judged, [(scenario, [("aadc01", "active"), ("aadc02", "standby")])])


def status_of(judged: list[Judged], check_id: str, server: str | None = "aadc02") -> Judged:
    return next(j for j in judged if j.check_id == check_id and j.server == server)


# --- readiness and the gate ----------------------------------------------------------------------------


def test_drifted_standby_is_not_ready_and_findings_name_the_server_once() -> None:
    judged = judged_run("standby-drifted", policy())
    state, why = readiness(judged)
    assert state is Readiness.NOT_READY and "worst critical" in why
    failed = {j.check_id for j in judged if j.status is Status.FAIL}
    assert {"pending-exports", "connector-account", "version-parity", "adsynctools"} <= failed
    version = status_of(judged, "version-parity")
    assert version.lines == ("[high] Entra Connect 2.5.79.0 is older than the active aadc01's 2.5.190.0",)
    assert version.result.findings[0].values  # the values keep what was read
    assert all("127.0.0." not in line for j in judged for line in j.lines)


def test_fail_on_high_turns_medium_and_low_findings_into_warnings() -> None:
    judged = judged_run("standby-drifted", policy(Severity.HIGH))
    assert status_of(judged, "adsynctools").status is Status.WARN
    assert status_of(judged, "patch-age").status is Status.WARN
    assert status_of(judged, "version-parity").status is Status.FAIL
    only_low = [j for j in judged if j.check_id in ("adsynctools", "patch-age", "tls12") and j.server]
    below = [j for j in only_low if j.check_id != "tls12"]
    assert exitcodes.audit_exit_code(below, 1, False, False) == exitcodes.OK
    assert exitcodes.audit_exit_code(only_low, 1, False, False) == exitcodes.FAILED


def test_an_unreachable_active_makes_the_pair_unknown_and_the_exit_code_says_could_not_audit() -> None:
    judged = judged_run("active-down", policy())
    assert readiness(judged)[0] is Readiness.UNKNOWN
    errors = [j for j in judged if j.status is Status.ERROR]
    assert errors and all("127.0.0.11" in (j.reason or "") for j in errors if j.server == "aadc01")
    assert not any(j.status is Status.FAIL for j in judged)
    assert exitcodes.audit_exit_code(judged, 1, False, False) == exitcodes.COULD_NOT_AUDIT


def test_healthy_pair_is_ready_and_exits_zero() -> None:
    judged = judged_run("healthy-pair", policy())
    assert readiness(judged)[0] is Readiness.READY
    assert exitcodes.audit_exit_code(judged, 0, False, False) == exitcodes.OK


# --- waivers -------------------------------------------------------------------------------------------


def waiver(**fields: Any) -> dict[str, Any]:
    return {"check": "adsynctools", "justification": "CHG-1 module rollout", "expires": "2027-01-31",
            **fields}


def test_an_active_waiver_runs_reports_and_does_not_fail() -> None:
    judged = judged_run("standby-drifted", policy(waivers=[waiver(host="aadc02")]))
    j = status_of(judged, "adsynctools")
    assert j.status is Status.WAIVED and j.result.findings  # evaluated: the finding is kept and shown
    assert j.reason and "until 2027-01-31" in j.reason and "CHG-1" in j.reason


def test_an_expired_waiver_is_evaluated_normally_and_says_so() -> None:
    judged = judged_run("standby-drifted", policy(waivers=[waiver(expires="2026-11-30")]))
    j = status_of(judged, "adsynctools")
    assert j.status is Status.FAIL and j.waiver_expired
    assert j.reason and "EXPIRED on 2026-11-30" in j.reason and "evaluated normally" in j.reason


def test_run_false_does_not_evaluate_the_check() -> None:
    from entra_standby.results import not_run

    parsed = policy(waivers=[waiver(run=False, pair="standby-drifted")])
    result = not_run(load_all()["adsynctools"], "standby-drifted", "127.0.0.12", parsed.waivers[0])
    j = judge(result, parsed, "standby")
    assert j.status is Status.WAIVED and not j.result.findings and "not run" in (j.reason or "")


@pytest.mark.parametrize(("raw", "fragment"), [
    ({"check": "adsynctools"}, "waivers.yml: [0].justification: missing required key"),
    ([waiver(expires="next week")], "waivers.yml: [0].expires: expected a date"),
    ([waiver(check="version_parity")],
     "unknown check id 'version_parity' (fix: did you mean 'version-parity'?)"),
    ([waiver(), waiver(granted="2027-02-01")], "[1].expires: already expired when written"),
    ([waiver(check="staging-flag", host="aadc02")], "[0].host: check staging-flag is evaluated per pair"),
    ([waiver(host="aadc03")], "[0].host: no server 'aadc03'"),
    ([waiver(pair="standby-drifter")], "did you mean 'standby-drifted'"),
    ([waiver(run="no")], "[0].run: expected true or false"),
    ([waiver(owner="me")], "[0].owner: unknown key 'owner'"),
])
def test_a_bad_waiver_is_one_line_naming_file_entry_and_fix(raw: Any, fragment: str) -> None:
    with pytest.raises(WaiverError) as caught:
        parse_waivers(raw if isinstance(raw, list) else [raw], label="waivers.yml", key="", checks=CHECKS,
                      layout=LAYOUT)
    text = str(caught.value)
    assert fragment in text and "\n" not in text, text


# --- what people and pipelines read --------------------------------------------------------------------


def test_the_terminal_verdict_fits_one_screen_worst_first() -> None:
    judged = judged_run("standby-drifted", policy())
    lines = [line.text for line in terminal_lines(verdicts("standby-drifted", judged), Severity.LOW)]
    assert lines[0].startswith("standby-drifted  NOT READY")
    assert len(lines) <= 50, "\n".join(lines)
    assert max(len(line) for line in lines) <= 120  # the default width: one line per finding and fix
    failures = [line for line in lines if line.startswith("  ") and line.split()[0] in
                ("CRITICAL", "HIGH", "MEDIUM", "LOW")]
    order = [line.split()[0] for line in failures]
    assert order == sorted(order, key=["CRITICAL", "HIGH", "MEDIUM", "LOW"].index), order
    assert len(failures) == sum(1 for j in judged if j.status is Status.FAIL)
    # passing checks only with -v
    verbose = [line.text for line in terminal_lines(verdicts("standby-drifted", judged), Severity.LOW,
                                                    verbose=True)]
    assert any(line.strip().startswith("staging-flag") for line in verbose)
    assert not any(line.strip().startswith("staging-flag") for line in lines)


def test_the_markdown_summary_lists_every_failure_with_its_remediation() -> None:
    judged = judged_run("standby-drifted", policy())
    text = markdown(verdicts("standby-drifted", judged), Severity.LOW)
    assert "| standby-drifted | **NOT READY** |" in text
    for j in judged:
        if j.status is Status.FAIL:
            row = next(line for line in text.splitlines() if f"| `{j.check_id}` |" in line and "FAIL" in line)
            assert j.fixes[0].replace("|", "\\|") in row, j.check_id


def servers() -> dict[str, list[ServerInfo]]:
    return {"standby-drifted": [ServerInfo("aadc01", "127.0.0.11", "active", "2.5.190.0"),
                                ServerInfo("aadc02", "127.0.0.12", "standby", "2.5.79.0")]}


def test_junit_is_valid_against_the_strict_schema_and_counts_the_same_in_junitparser(tmp_path: Path) -> None:
    judged = judged_run("standby-drifted", policy(Severity.HIGH, waivers=[waiver(expires="2026-11-30")]))
    text = junit_string(verdicts("standby-drifted", judged), servers(),
                        dt.datetime(2026, 12, 7, tzinfo=dt.UTC))
    path = tmp_path / "junit.xml"
    path.write_text(text, encoding="utf-8")
    xmlschema.XMLSchema(str(XSD)).validate(str(path))
    suites = list(JUnitXml.fromfile(str(path)))
    assert len(suites) == 1
    suite = suites[0]
    fails = sum(1 for j in judged if j.status is Status.FAIL)
    assert suite.failures == fails and suite.tests == len(judged)
    assert suite.skipped == sum(1 for j in judged if j.status in (Status.SKIP, Status.WAIVED))
    failed = [case for case in suite if any(r._tag == "failure" for r in case.result)]
    assert len(failed) == fails
    for case in failed:
        message = case.result[0].message
        check_id, server = case.name.split(" (")[0], case.name.split(" (")[1].rstrip(")")
        assert case.classname == f"standby-drifted.{server}"
        assert message.startswith(f"{server}: {check_id}: ") and "fix: " in message
    props = {p.name: p.value for p in suite.properties()}  # type: ignore[no-untyped-call]
    assert props["aadc02.host"] == "127.0.0.12" and props["aadc02.version"] == "2.5.79.0"
    assert props["verdict"] == "NOT READY" and props["aadc02.version-parity.severity"] == "high"
    assert "EXPIRED" in props["aadc02.adsynctools.waiver"]


def test_results_json_has_every_result() -> None:
    judged = judged_run("standby-drifted", policy())
    doc = results_document(verdicts("standby-drifted", judged), servers(), fail_on=Severity.LOW,
                           collected_utc=dt.datetime(2026, 12, 7, tzinfo=dt.UTC), source="replay",
                           inventory="x", tool_version="0", exit_code=1)
    results = doc["pairs"][0]["results"]
    assert len(results) == len(judged) and doc["pairs"][0]["verdict"] == "NOT READY"
    version = next(r for r in results if r["check"] == "version-parity")
    assert version["host"] == "127.0.0.12" and version["server"] == "aadc02"
    assert version["findings"][0]["values"]
    json.dumps(doc)


def test_inventory_names_servers_and_keeps_waivers_for_validation() -> None:
    from entra_standby.errors import InventoryError
    from entra_standby.inventory import inventory_from_dict

    def raw(name2: str) -> dict[str, Any]:
        conn = {"username": "u", "password": "pw"}
        return {"pairs": [{"name": "p", "connection": conn, "servers": [
            {"host": "127.0.0.11", "role": "active", "name": "aadc01"},
            {"host": "127.0.0.12", "role": "standby", "name": name2}]}],
            "waivers": [waiver()]}

    inventory = inventory_from_dict(raw("aadc02"), path="inv.yml")
    assert [s.display for s in inventory.pairs[0].servers] == ["aadc01", "aadc02"]
    assert inventory.raw_waivers == [waiver()]
    with pytest.raises(InventoryError) as caught:
        inventory_from_dict(raw("aadc01"), path="inv.yml")
    assert "pairs[0].servers[1].name: 'aadc01' is already the name or host of pairs[0].servers[0]" in str(
        caught.value)
