"""Turn a check's judgement into a pytest outcome: pass, fail listing every finding, a warning below
``--fail-on``, xfail when waived.

Under the plugin (``--inventory``/``--replay``) the judgement comes from the run (``AuditRun.judge``: the
result model with waivers and the severity gate), so the test, the end-of-run verdict, the reports and the
exit code agree. Without a run (a unit test calling ``expect_pass`` on hand-built facts) every finding
fails, as before.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from .facts.collection import HostFacts, PairFacts
from .results import Judged, Policy, Status, evaluate_check, judge
from .rules import Finding, load_all

__all__ = ["FindingBelowGateWarning", "expect_pass", "format_findings", "format_judged", "set_judge"]

Judge = Callable[[Any, PairFacts, HostFacts | None], Judged]
_judge: Judge | None = None


class FindingBelowGateWarning(UserWarning):
    """A finding below ``--fail-on``: reported, not failed."""


def set_judge(judge_fn: Judge | None) -> None:
    """The plugin installs its run's judge here for the run (and removes it after)."""
    global _judge
    _judge = judge_fn


def expect_pass(check_id: str, pair: PairFacts, server: HostFacts | None = None) -> None:
    """Evaluate ``check_id`` on ``pair`` (or one ``server`` of it); fail with every finding if any."""
    __tracebackhide__ = True
    spec = load_all()[check_id]
    if _judge is not None:
        judged = _judge(spec, pair, server)
    else:
        judged = judge(evaluate_check(spec, pair, server), Policy(), server.role if server else None)
    text = format_judged(judged)
    if judged.status is Status.FAIL:
        pytest.fail(text, pytrace=False)
    if judged.status is Status.ERROR:
        pytest.fail(f"{check_id}: cannot evaluate: {judged.reason}", pytrace=False)
    if judged.status is Status.WARN:
        warnings.warn(FindingBelowGateWarning(text.replace("\n", " / ")), stacklevel=2)
    elif judged.status is Status.WAIVED:
        pytest.xfail(f"{judged.reason}; findings: {' / '.join(judged.lines)}")
    elif judged.status is Status.SKIP:
        pytest.skip(judged.reason or "does not apply")


def format_judged(judged: Judged) -> str:
    """The check on its target, then one line per finding (host stated once, servers by name) with its
    values indented; the remediation after each, or once when they share it; an expired waiver last."""
    findings = judged.result.findings
    count = f"{len(findings)} finding" + ("s" if len(findings) != 1 else "")
    where = f" on {judged.server}" if judged.server else ""
    lines = [f"{judged.check_id}: {count}{where}"]
    shared = len({f.remediation for f in findings}) == 1
    for finding, line in zip(findings, judged.lines, strict=True):
        lines.append(line)
        if finding.values:
            lines.append(f"    values: {_compact(finding.values)}")
        if not shared:
            lines.append(f"    remediation: {finding.remediation}")
    if shared and findings:
        lines.append(f"remediation: {findings[0].remediation}")
    if judged.waiver_expired and judged.reason:
        lines.append(judged.reason)
    return "\n".join(lines)


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
