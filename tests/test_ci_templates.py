"""The CI templates in ci/: each parses, is scheduled, maps the secrets the example inventory names, publishes
the JUnit file the audit writes, keeps the drill behind an approval, and its audit command really runs
(the same command, pointed at saved evidence instead of production, in a child pytest)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from spine_helpers import ROOT, run_checks

TEMPLATES = {
    "github": ROOT / "ci" / "github-actions" / "entra-standby-audit.yml",
    "azure": ROOT / "ci" / "azure-pipelines" / "entra-standby-audit.yml",
    "gitlab": ROOT / "ci" / "gitlab" / "entra-standby-audit.gitlab-ci.yml",
}
SECRETS = ("ENTRA_AUDIT_PASSWORD", "ENTRA_AUDIT_CLIENT_SECRET")


def scripts(node: Any) -> list[str]:
    """Every shell command in a template (run:, script:, a script list)."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("run", "script") and isinstance(value, str):
                found.append(value)
            elif key == "script" and isinstance(value, list):
                found.extend(v for v in value if isinstance(v, str))
            else:
                found.extend(scripts(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(scripts(item))
    return found


def audit_command(name: str) -> str:
    doc = yaml.safe_load(TEMPLATES[name].read_text(encoding="utf-8"))
    commands = [c for c in scripts(doc) if "pytest checks/ " in c and "--drill" not in c]
    assert len(commands) == 1, commands
    return " ".join(commands[0].split())


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_template_is_scheduled_maps_secrets_and_publishes_the_readiness_junit(name: str) -> None:
    text = TEMPLATES[name].read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    assert doc, name
    assert "schedule" in text and re.search(r'"?17 5 \* \* \*"?', text), name
    command = audit_command(name)
    assert command.startswith("python -m pytest checks/ ") and "--readiness-report" in command
    assert "--fail-on high" in command
    report_dir = shlex.split(command)[shlex.split(command).index("--readiness-report") + 1]
    junit = f"{report_dir}/entra-standby.junit.xml"
    assert junit in text, (name, junit)  # the file the audit writes is the file the CI publishes
    example = (ROOT / "inventory" / "example.yml").read_text(encoding="utf-8")
    for secret in SECRETS:
        assert secret in example and secret in text, (name, secret)
    if name == "github":
        assert "ENTRA_AUDIT_PASSWORD: ${{ secrets.ENTRA_AUDIT_PASSWORD }}" in text
        assert '--summary "$GITHUB_STEP_SUMMARY"' in command and "workflow_dispatch" in text
    if name == "azure":
        assert "PublishTestResults@2" in text and "ENTRA_AUDIT_PASSWORD: $(ENTRA_AUDIT_PASSWORD)" in text
    if name == "gitlab":
        assert doc["audit"]["artifacts"]["reports"]["junit"] == junit
        assert doc["drill"]["environment"]["name"] and "$ENTRA_STANDBY_DRILL" in str(doc["drill"]["rules"])
    assert "environment" in text and "--drill" in text  # the drill waits for an approval or a protected env


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_template_audit_command_runs(name: str, tmp_path: Path) -> None:
    words = shlex.split(audit_command(name).replace("$(Build.ArtifactStagingDirectory)", str(tmp_path / "a"))
                        .replace('"$GITHUB_STEP_SUMMARY"', str(tmp_path / "summary.md")))
    assert words[:4] == ["python", "-m", "pytest", "checks/"]
    args = words[4:]
    inventory = args.index("--inventory")
    args[inventory:inventory + 2] = ["--replay", str(ROOT / "fixtures" / "evidence" / "healthy-pair")]
    evidence = args.index("--evidence")
    del args[evidence:evidence + 2]  # the replayed evidence exists already
    args = [str(tmp_path / a) if a.startswith("reports") else a for a in args]
    result = run_checks(*args, paths=("checks/",))
    assert result.returncode == 0, result.output
    report = Path(args[args.index("--readiness-report") + 1])
    assert (report / "entra-standby.junit.xml").is_file() and (report / "entra-standby-summary.md").is_file()


def test_readme_shows_the_commands_the_templates_run() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for option in ("--fail-on high", "--readiness-report", "--summary", "--waivers"):
        assert option in readme, option
    assert "pip install -e '.[test]' && " not in readme.split("## Quick start", 1)[1].split("##", 1)[0]
    for name, path in TEMPLATES.items():
        assert str(path.relative_to(ROOT)) in readme, name
