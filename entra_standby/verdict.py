"""Turn a check's findings into a pytest verdict: pass when there are none, fail listing every one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .errors import FactUnavailableError
from .facts.collection import HostFacts, PairFacts
from .rules import Finding, evaluate

__all__ = ["expect_pass", "format_findings"]


def expect_pass(check_id: str, pair: PairFacts, server: HostFacts | None = None) -> None:
    """Evaluate ``check_id`` on ``pair`` (or one ``server`` of it); fail with every finding if any."""
    __tracebackhide__ = True
    try:
        findings = evaluate(check_id, pair, server)
    except FactUnavailableError as exc:  # a fact the check uses but did not declare in ``needs``
        pytest.fail(f"{check_id}: cannot evaluate: {exc}", pytrace=False)
    if findings:
        pytest.fail(format_findings(check_id, findings), pytrace=False)


def format_findings(check_id: str, findings: list[Finding]) -> str:
    """One line per finding (severity, target, message) with its values indented; the remediation after
    each finding, or once at the end when every finding shares it."""
    count = f"{len(findings)} finding" + ("s" if len(findings) != 1 else "")
    lines = [f"{check_id}: {count}"]
    shared = len({f.remediation for f in findings}) == 1
    for finding in findings:
        lines.append(f"[{finding.severity}] {finding.target}: {finding.message}")
        if finding.values:
            lines.append(f"    values: {_compact(finding.values)}")
        if not shared:
            lines.append(f"    remediation: {finding.remediation}")
    if shared:
        lines.append(f"remediation: {findings[0].remediation}")
    return "\n".join(lines)


def _compact(values: dict[str, Any]) -> str:
    return json.dumps(values, default=str, sort_keys=True, ensure_ascii=False)
