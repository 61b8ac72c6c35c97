"""The drill's reports: a JUnit file for CI dashboards and a JSON audit log of every server call.

``write_junit`` builds the document with junit-xml (one testsuite per run, one testcase per step) and then
shapes it to the strict Ant schema CI tools validate against (``../shared/data/JUnit.xsd``): no attributes
on ``<testsuites>``, ``package``/``id``/``hostname``/``timestamp`` (no zone) on every suite, the required
``properties``/``system-out``/``system-err`` elements, a ``time`` on every testcase, a ``type`` on every
failure. ``write_audit_log`` writes the record's steps and audit entries with UTC ISO 8601 times.

Records carry no secrets by construction; both writers still scrub defensively: parameters whose key
names a secret, ``Secret`` objects, bearer tokens and JWTs in any text become ``********``.
"""

from __future__ import annotations

import enum
import json
import math
import os
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
from junit_xml import TestCase, TestSuite, to_xml_report_string

from ..atomicfile import write_text_atomically
from ..errors import DrillError
from .filenames import pair_file_stem
from .records import AuditEntry, DrillRecord, RunOutcome, StepOutcome, StepRecord

__all__ = [
    "AUDIT_LOG_FORMAT",
    "REDACTED",
    "ReportPaths",
    "audit_log_dict",
    "junit_xml_string",
    "scrub",
    "write_audit_log",
    "write_junit",
    "write_reports",
]

AUDIT_LOG_FORMAT = "entra-standby/drill-audit/1"
REDACTED = "********"
PACKAGE = "entra-standby"

# Parameter names that hold a secret, compared with separators removed and lower-cased.
_SECRET_KEY_PARTS = ("password", "passwd", "passphrase", "secret", "token", "credential", "apikey",
                     "privatekey", "authorization", "cookie", "connectionstring", "sastoken")
_SECRET_KEYS_EXACT = ("pwd", "pw", "cred", "creds", "pass", "sas", "key")
_SECRET_TEXT = (
    re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),  # a JWT
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"),  # an Authorization header value
    re.compile(r"(?i)\b(basic)\s+(?=[A-Za-z0-9+/]*[0-9+/])[A-Za-z0-9+/]{12,}={0,2}"),  # base64 user:password
    re.compile(r"(?i)\b(password|passwd|pwd|secret|token|client_secret|apikey|api_key)\b(\s*[=:]\s*)"
               r"(\"[^\"]*\"|'[^']*'|[^\s,;]+)"),  # key=value / key: value in free text
)

# testsuite attributes the schema allows, in its order; everything else junit-xml adds is dropped.
_SUITE_ATTRIBUTES = ("name", "timestamp", "hostname", "tests", "failures", "errors", "skipped", "time",
                     "package", "id")
_CASE_ATTRIBUTES = ("name", "classname", "time")
_RESULT_ATTRIBUTES = ("message", "type")


@dataclass(frozen=True)
class ReportPaths:
    junit: Path
    audit: Path


# --- JUnit -----------------------------------------------------------------------------------------------


def junit_xml_string(records: Sequence[DrillRecord], *, hostname: str | None = None) -> str:
    """The JUnit document for ``records`` (one testsuite each), valid against the Ant JUnit schema."""
    host = hostname or socket.gethostname() or "localhost"
    suites = [_suite(record, host) for record in records]
    built = to_xml_report_string(suites, prettyprint=False, encoding="utf-8")
    root = SafeET.fromstring(built.encode("utf-8"))
    _conform(root, list(records))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(record: DrillRecord | Sequence[DrillRecord], path: str | os.PathLike[str], *,
                hostname: str | None = None) -> Path:
    """Write the JUnit report of one run (or several, one testsuite each); returns the path written."""
    records = [record] if isinstance(record, DrillRecord) else list(record)
    return _write_text(Path(path), junit_xml_string(records, hostname=hostname))


def _suite(record: DrillRecord, hostname: str) -> TestSuite:
    cases = [_case(record, index, step) for index, step in enumerate(record.steps, start=1)]
    if record.outcome not in (RunOutcome.PASSED, RunOutcome.PLANNED) and not any(
            step.outcome is StepOutcome.FAILED for step in record.steps):
        # A refusal before the first step (or a manual action without a failed step) must still turn CI red.
        case = TestCase(f"{len(cases) + 1:02d} run outcome", classname=_classname(record, "outcome"),
                        elapsed_sec=0.0)
        case.add_failure_info(message=_clean(_outcome_text(record)), failure_type=f"run-{record.outcome}")
        cases.append(case)
    return TestSuite(f"{record.kind} {record.pair}", cases, hostname=hostname,
                     timestamp=_naive_utc(record.started_utc), properties=_properties(record),
                     package=PACKAGE)


def _case(record: DrillRecord, index: int, step: StepRecord) -> TestCase:
    where = f" [{step.server}]" if step.server else ""
    case = TestCase(_clean(f"{index:02d} {step.name}{where}"), classname=_classname(record, step.phase),
                    elapsed_sec=_seconds(step.duration_s))
    message = _clean(step.message)
    if step.outcome is StepOutcome.FAILED:
        case.add_failure_info(message=message or "step failed", failure_type="step-failed")
    elif step.outcome is StepOutcome.SKIPPED:
        case.add_skipped_info(message=message or "skipped")
    return case


def _classname(record: DrillRecord, phase: str) -> str:
    return f"{PACKAGE}.{record.kind}.{record.pair}.{phase}"


def _properties(record: DrillRecord) -> dict[str, str]:
    props = {
        "pair": record.pair,
        "kind": record.kind,
        "method": record.method or "none",
        "servers": ", ".join(record.servers),
        "outcome": str(record.outcome),
        "started_utc": _iso(record.started_utc),
    }
    if record.finished_utc is not None:
        props["finished_utc"] = _iso(record.finished_utc)
    for direction in sorted(record.rto_s):
        props[f"rto_s.{direction}"] = f"{_seconds(record.rto_s[direction]):.1f}"
    if record.refusal:
        props["refusal"] = record.refusal
    if record.manual_action:
        props["manual_action"] = record.manual_action
    return {name: _clean(value) for name, value in props.items()}


def _conform(root: ET.Element, records: list[DrillRecord]) -> None:
    """Reshape junit-xml's output to what JUnit.xsd requires (see the module docstring)."""
    root.attrib.clear()
    for index, (suite, record) in enumerate(zip(root.findall("testsuite"), records, strict=True)):
        cases = schema_suite(suite, index, _run_seconds(record))
        for case, seconds in zip(cases, _case_seconds(record), strict=True):
            schema_case(case, seconds)
            suite.append(case)
        ET.SubElement(suite, "system-out").text = _clean(_summary(record))
        ET.SubElement(suite, "system-err").text = ""


def _case_seconds(record: DrillRecord) -> list[float]:
    seconds = [_seconds(step.duration_s) for step in record.steps]
    if record.outcome not in (RunOutcome.PASSED, RunOutcome.PLANNED) and not any(
            step.outcome is StepOutcome.FAILED for step in record.steps):
        seconds.append(0.0)  # the "run outcome" case added by _suite
    return seconds


def _run_seconds(record: DrillRecord) -> float:
    if record.finished_utc is not None:
        return _seconds((_as_utc(record.finished_utc) - _as_utc(record.started_utc)).total_seconds())
    return sum(_seconds(step.duration_s) for step in record.steps)


def _summary(record: DrillRecord) -> str:
    lines = [f"{record.kind} of pair {record.pair} ({', '.join(record.servers)}), method "
             f"{record.method or 'none'}: {record.outcome}"]
    if record.refusal:
        lines.append(f"refused: {record.refusal}")
    if record.manual_action:
        lines.append(f"MANUAL ACTION REQUIRED: {record.manual_action}")
    for direction in sorted(set(record.rto_s) | set(record.proven) | set(record.unproven)):
        if direction in record.rto_s:
            lines.append(f"{direction}: RTO {_seconds(record.rto_s[direction]):.1f} s")
        for item in record.proven.get(direction, []):
            lines.append(f"{direction}: proven: {item}")
        for item in record.unproven.get(direction, []):
            lines.append(f"{direction}: NOT proven: {item}")
    for server, staging in record.final_staging.items():
        state = "unknown" if staging is None else ("staging" if staging else "active (exporting)")
        lines.append(f"final state of {server}: {state}")
    return "\n".join(lines) + "\n"


def _outcome_text(record: DrillRecord) -> str:
    detail = record.refusal or record.manual_action or ""
    return f"{record.kind} {record.outcome}" + (f": {detail}" if detail else "")


# --- JSON audit log --------------------------------------------------------------------------------------


def audit_log_dict(record: DrillRecord) -> dict[str, Any]:
    """The audit log as plain JSON data (times as ISO 8601 UTC strings), already scrubbed."""
    data: dict[str, Any] = {
        "format": AUDIT_LOG_FORMAT,
        "pair": record.pair,
        "kind": record.kind,
        "method": record.method,
        "servers": list(record.servers),
        "outcome": str(record.outcome),
        "started_utc": _iso(record.started_utc),
        "finished_utc": _iso(record.finished_utc) if record.finished_utc is not None else None,
        "rto_s": dict(record.rto_s),
        "proven": {k: list(v) for k, v in record.proven.items()},
        "unproven": {k: list(v) for k, v in record.unproven.items()},
        "refusal": record.refusal,
        "manual_action": record.manual_action,
        "final_staging": dict(record.final_staging),
        "steps": [_step_dict(step) for step in record.steps],
        "audit": [_entry_dict(entry) for entry in record.audit],
    }
    scrubbed = scrub(data)
    assert isinstance(scrubbed, dict)
    return scrubbed


def write_audit_log(record: DrillRecord, path: str | os.PathLike[str]) -> Path:
    """Write the JSON audit log of one run; returns the path written."""
    text = json.dumps(audit_log_dict(record), indent=2, ensure_ascii=False, allow_nan=False)
    return _write_text(Path(path), text + "\n")


def write_reports(record: DrillRecord, directory: str | os.PathLike[str]) -> ReportPaths:
    """``--drill-report DIR``: ``<kind>-<pair>-<start>.junit.xml`` and ``.audit.json`` in ``directory``."""
    stamp = _as_utc(record.started_utc).strftime("%Y%m%dT%H%M%SZ")
    base = Path(directory) / f"{record.kind}-{pair_file_stem(record.pair)}-{stamp}"
    junit = write_junit(record, base.with_name(base.name + ".junit.xml"))
    audit = write_audit_log(record, base.with_name(base.name + ".audit.json"))
    return ReportPaths(junit=junit, audit=audit)


def _step_dict(step: StepRecord) -> dict[str, Any]:
    return {"name": step.name, "phase": step.phase, "server": step.server,
            "started_utc": _iso(step.started_utc), "duration_s": _seconds(step.duration_s),
            "outcome": str(step.outcome), "message": step.message}


def _entry_dict(entry: AuditEntry) -> dict[str, Any]:
    return {"time_utc": _iso(entry.time_utc), "kind": entry.kind, "name": entry.name, "server": entry.server,
            "parameters": entry.parameters, "ok": entry.ok, "result": entry.result,
            "duration_s": _seconds(entry.duration_s)}


# --- scrubbing -------------------------------------------------------------------------------------------


def scrub(value: Any, *, key: str | None = None) -> Any:
    """JSON-ready copy of ``value`` with secrets replaced by ``REDACTED`` (see the module docstring)."""
    if key is not None and _is_secret_key(key):
        return REDACTED if value is not None else None
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, enum.Enum):
        return scrub(value.value)
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if callable(getattr(value, "reveal", None)):  # an inventory Secret (or anything shaped like one)
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): scrub(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v) for v in value]
    return _clean(str(value))


def _is_secret_key(key: str) -> bool:
    flat = re.sub(r"[^a-z0-9]", "", key.lower())
    return flat in _SECRET_KEYS_EXACT or any(part in flat for part in _SECRET_KEY_PARTS)


def _clean(text: str) -> str:
    jwt, bearer, basic, assignment = _SECRET_TEXT
    text = jwt.sub(REDACTED, text)
    text = bearer.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = basic.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return assignment.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


# --- small helpers ---------------------------------------------------------------------------------------


def _as_utc(moment: datetime) -> datetime:
    """Records hold aware UTC times; a naive one is taken as UTC rather than as local time."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    utc = _as_utc(moment)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _naive_utc(moment: datetime) -> str:
    """The schema's timestamp: ``YYYY-MM-DDTHH:MM:SS``, no fraction and no zone (it is UTC)."""
    return _as_utc(moment).strftime("%Y-%m-%dT%H:%M:%S")


def _seconds(value: float) -> float:
    return float(value) if math.isfinite(value) and value > 0 else 0.0


def _write_text(path: Path, text: str) -> Path:
    """Write atomically (temp file + rename): a report is whole or absent, never half-written."""
    try:
        return write_text_atomically(path, text)
    except OSError as exc:
        raise DrillError(f"cannot write drill report {path}: {exc.strerror or exc}",
                         fix="pass a writable report directory (--report / --drill-report)") from None


def schema_suite(suite: ET.Element, index: int, seconds: float) -> list[ET.Element]:
    """Give a junit-xml suite the attributes JUnit.xsd allows, in its order (with id, package and time), empty
    it but for its properties, and return its test cases for the caller to append back."""
    values = {**suite.attrib, "id": str(index), "package": PACKAGE, "time": f"{seconds:.3f}"}
    suite.attrib.clear()
    for name in _SUITE_ATTRIBUTES:
        if name in values:
            suite.set(name, values[name])
    properties = suite.find("properties")
    cases = suite.findall("testcase")
    for child in list(suite):
        suite.remove(child)
    suite.append(properties if properties is not None else ET.Element("properties"))
    return cases


def schema_case(case: ET.Element, seconds: float, *, default_type: bool = False) -> None:
    """A test case with the schema's attributes only (time always: junit-xml leaves it out for 0 s) and only
    its failure/error/skipped results; ``default_type`` names a result's missing type after its tag."""
    values = {**case.attrib, "time": f"{seconds:.3f}"}
    case.attrib.clear()
    for name in _CASE_ATTRIBUTES:
        if name in values:
            case.set(name, values[name])
    for result in list(case):
        if result.tag in ("failure", "error", "skipped"):
            kept = {k: v for k, v in result.attrib.items() if k in _RESULT_ATTRIBUTES}
            if default_type and result.tag in ("failure", "error"):
                kept.setdefault("type", result.tag)
            result.attrib.clear()
            result.attrib.update(kept)
        else:
            case.remove(result)
