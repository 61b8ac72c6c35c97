"""Readiness reports written from the result model: JUnit (junit-xml, valid against the strict Ant schema
``../shared/data/JUnit.xsd``), the Markdown summary, and every result as JSON.

JUnit: one testsuite per pair, one testcase per (server, check) named ``<check> (<server>)`` with classname
``<pair>.<server>`` (``<pair>.pair`` for pair-scoped checks). FAIL is a ``failure`` (message: the first
finding and the remediation; text: every finding), an unevaluable check an ``error``, waived / not
applicable ``skipped``; a warning (below ``--fail-on``) passes and is listed in the suite's ``system-out``.
The schema has no per-testcase properties, so the suite's ``properties`` carry the pair's verdict and, per
server and per result, ``<server>.host|role|version`` and ``<server>.<check>.severity|status|waiver``.
"""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
from junit_xml import TestCase, TestSuite, to_xml_report_string

from .atomicfile import write_text_atomically
from .drill.report import PACKAGE, schema_case, schema_suite, scrub
from .errors import EntraStandbyError
from .results import Judged, Status
from .rules import Severity
from .summary import PairVerdict, markdown

__all__ = ["ServerInfo", "junit_string", "results_document", "write_readiness_reports", "write_text"]


@dataclass(frozen=True)
class ServerInfo:
    name: str  # display name
    host: str  # the address connected to
    role: str
    version: str | None = None


def junit_string(verdicts: Sequence[PairVerdict], servers: Mapping[str, Sequence[ServerInfo]],
                 collected_utc: datetime, *, hostname: str | None = None) -> str:
    host = hostname or socket.gethostname() or "localhost"
    stamp = collected_utc.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    suites = [_suite(v, servers.get(v.pair, ()), stamp, host) for v in verdicts]
    built = to_xml_report_string(suites, prettyprint=False, encoding="utf-8")
    root = SafeET.fromstring(built.encode("utf-8"))
    _conform(root, verdicts)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(v: PairVerdict, servers: Sequence[ServerInfo], stamp: str, hostname: str) -> TestSuite:
    props: dict[str, str] = {"pair": v.pair, "verdict": str(v.readiness), "why": v.why}
    for s in servers:
        props.update({f"{s.name}.host": s.host, f"{s.name}.role": s.role,
                      f"{s.name}.version": s.version or "unknown"})
    cases = []
    for j in v.judged:
        props[f"{j.where}.{j.check_id}.severity"] = str(j.severity)
        props[f"{j.where}.{j.check_id}.status"] = str(j.status)
        if j.waiver is not None:
            props[f"{j.where}.{j.check_id}.waiver"] = j.waiver.describe(j.waiver.expires) if not \
                j.waiver_expired else f"EXPIRED {j.waiver.expires} ({j.waiver.source})"
        cases.append(_case(v.pair, j))
    return TestSuite(v.pair, cases, hostname=hostname, timestamp=stamp, package=PACKAGE,
                     properties={k: str(scrub(val)) for k, val in props.items()})


def _case(pair: str, j: Judged) -> TestCase:
    case = TestCase(f"{j.check_id} ({j.where})", classname=f"{pair}.{j.where}", elapsed_sec=0.0)
    detail = "\n".join(j.lines)
    if j.status is Status.FAIL:
        message = f"{j.where}: {j.check_id}: {j.headline()} -- fix: {j.remediation}"
        text = detail + f"\nremediation: {j.remediation}" + (f"\n{j.reason}" if j.reason else "")
        case.add_failure_info(message=scrub(message), output=scrub(text),
                              failure_type=f"severity-{j.severity}")
    elif j.status is Status.ERROR:
        case.add_error_info(message=scrub(f"{j.where}: {j.check_id}: not evaluated: {j.reason}"),
                            error_type="not-audited")
    elif j.status in (Status.WAIVED, Status.SKIP):
        case.add_skipped_info(message=scrub(f"{j.where}: {j.check_id}: {j.reason or j.status}"))
    return case


def _conform(root: ET.Element, verdicts: Sequence[PairVerdict]) -> None:
    """Reshape junit-xml's output to JUnit.xsd: no attributes on ``testsuites``; ``package`` and ``id`` on
    each suite; ``properties`` first; ``time`` on each case; only ``message``/``type`` on results; the
    required ``system-out``/``system-err``."""
    root.attrib.clear()
    for index, (suite, v) in enumerate(zip(root.findall("testsuite"), verdicts, strict=True)):
        for case in schema_suite(suite, index, 0.0):
            schema_case(case, 0.0, default_type=True)
            suite.append(case)
        warnings = [f"warning ({j.where} {j.check_id}): {line}" for j in v.judged if j.status is Status.WARN
                    for line in j.lines]
        ET.SubElement(suite, "system-out").text = scrub("\n".join([f"{v.pair}: {v.readiness} - {v.why}",
                                                                   *warnings]))
        ET.SubElement(suite, "system-err").text = ""


def results_document(verdicts: Sequence[PairVerdict], servers: Mapping[str, Sequence[ServerInfo]],
                     *, fail_on: Severity, collected_utc: datetime, source: str, inventory: str,
                     tool_version: str, exit_code: int) -> dict[str, Any]:
    """Every result, InSpec-json-reporter style: the run, then per pair its servers, verdict and results."""
    pairs = []
    for v in verdicts:
        results = []
        for j in v.judged:
            r = j.result
            results.append({
                "check": r.check_id, "title": r.title, "server": j.server, "host": r.host, "role": j.role,
                "outcome": str(r.outcome), "status": str(j.status), "severity": str(j.severity),
                "check_severity": str(r.severity), "blocking": j.blocking, "reason": j.reason,
                "findings": [{"severity": str(f.severity), "message": line, "remediation": f.remediation,
                              "values": f.values} for f, line in zip(r.findings, j.lines, strict=True)],
                "waiver": j.waiver.as_dict(j.waiver.expires) | {"expired": j.waiver_expired}
                if j.waiver is not None else None,
            })
        pairs.append({"pair": v.pair, "verdict": str(v.readiness), "why": v.why,
                      "servers": [s.__dict__ for s in servers.get(v.pair, ())], "results": results})
    doc = {"tool": "entra-standby", "tool_version": tool_version, "collected_utc": collected_utc.isoformat(),
           "source": source, "inventory": inventory, "fail_on": str(fail_on), "exit_code": exit_code,
           "pairs": pairs}
    cleaned: dict[str, Any] = scrub(doc)
    return cleaned


def write_text(path: Path, text: str) -> Path:
    """Write atomically: a report is whole or absent, never half-written."""
    try:
        return write_text_atomically(path, text)
    except OSError as exc:
        raise EntraStandbyError(f"cannot write report {path}: {exc.strerror or exc}",
                                fix="pass a writable path") from None


def write_readiness_reports(verdicts: Sequence[PairVerdict], servers: Mapping[str, Sequence[ServerInfo]], *,
                            fail_on: Severity, collected_utc: datetime, source: str, inventory: str,
                            tool_version: str, exit_code: int, report_dir: str | None = None,
                            summary_path: str | None = None, json_path: str | None = None) -> list[Path]:
    """``--readiness-report DIR`` (junit.xml, summary.md, results.json), ``--summary``, ``--results-json``."""
    written: list[Path] = []
    md = markdown(verdicts, fail_on)
    doc = results_document(verdicts, servers, fail_on=fail_on, collected_utc=collected_utc, source=source,
                           inventory=inventory, tool_version=tool_version, exit_code=exit_code)
    as_json = json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"
    if report_dir:
        base = Path(report_dir)
        written.append(write_text(base / "entra-standby.junit.xml",
                                  junit_string(verdicts, servers, collected_utc)))
        written.append(write_text(base / "entra-standby-summary.md", md))
        written.append(write_text(base / "entra-standby-results.json", as_json))
    if summary_path:
        written.append(write_text(Path(summary_path), md))
    if json_path:
        written.append(write_text(Path(json_path), as_json))
    return written
