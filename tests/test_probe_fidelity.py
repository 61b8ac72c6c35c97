"""Probe fidelity gates: every shipped .ps1 is valid PowerShell 5.1, documented, and keeps the contract.

No Windows host is needed: the scripts are parsed with tree-sitter-powershell and their syntax trees checked.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from entra_standby.errors import EntraStandbyError
from entra_standby.probes import (
    ACTION_NAMES,
    CONTRACT_PARAMETERS,
    DRILL_PROBES,
    HELPERS_REGION_BEGIN,
    HELPERS_REGION_END,
    PROBE_NAMES,
    Script,
    UnknownScriptError,
    load_action,
    load_probe,
    marker_line,
    parameter_names,
    with_helpers,
)
from entra_standby.probes.cmdlets import KNOWN_COMMANDS

REPO = Path(__file__).resolve().parents[1]
# The shared helpers: one canonical file, inserted into a marked region of every script when the catalogue
# loads it, because each script is sent to the server (or run by hand) as one standalone text.
CANONICAL_HELPERS = REPO / "entra_standby" / "probes" / "helpers" / "common.ps1"
REGION_BEGIN = HELPERS_REGION_BEGIN
REGION_END = HELPERS_REGION_END

SCRIPTS: list[Script] = ([load_probe(n) for n in PROBE_NAMES + DRILL_PROBES]
                         + [load_action(n) for n in ACTION_NAMES])
IDS = [f"{s.kind}:{s.name}" for s in SCRIPTS]

# Commands that turn text into code or reach beyond the host: never in a probe.
FORBIDDEN_COMMANDS = {
    "invoke-expression",
    "iex",
    "invoke-command",
    "icm",
    "add-type",
    "start-process",
    "invoke-webrequest",
    "invoke-restmethod",
    "new-pssession",
    "enter-pssession",
}


@cache
def _parser() -> Parser:
    return Parser(Language(tree_sitter_powershell.language()))


@cache
def _tree_root(source: str) -> Node:
    return _parser().parse(source.encode("utf-8")).root_node


def root(script: Script) -> Node:
    return _tree_root(script.text)


def walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from walk(child)


def text(node: Node) -> str:
    return (node.text or b"").decode("utf-8")


def defined_functions(script: Script) -> set[str]:
    return {text(n).lower() for n in walk(root(script)) if n.type == "function_name"}


def command_names(script: Script) -> list[str]:
    return [text(n) for n in walk(root(script)) if n.type == "command_name"]


def code_without_comments_and_strings(script: Script) -> str:
    pieces: list[str] = []

    def collect(node: Node) -> None:
        if node.type in ("comment", "string_literal"):
            pieces.append(" ")
            return
        if node.child_count == 0:
            pieces.append(text(node))
            return
        for child in node.children:
            collect(child)

    collect(root(script))
    return " ".join(pieces)


# --- catalogue -------------------------------------------------------------------------------------------


def test_catalogue_lists_every_shipped_script_and_nothing_else() -> None:
    base = resources.files("entra_standby")
    shipped_probes = {p.name[:-4] for p in base.joinpath("probes").iterdir() if p.name.endswith(".ps1")}
    shipped_actions = {p.name[:-4] for p in base.joinpath("actions").iterdir() if p.name.endswith(".ps1")}
    assert shipped_probes == set(PROBE_NAMES) | set(DRILL_PROBES)
    assert not set(PROBE_NAMES) & set(DRILL_PROBES)  # drill probes never join the audit batch
    assert shipped_actions == set(ACTION_NAMES)
    assert PROBE_NAMES == (
        "access",
        "scheduler",
        "service",
        "version",
        "tls",
        "os",
        "run-history",
        "connectors",
        "config",
        "pending-exports",
        "machine",
        "password-sync",  # also run by the drill on its own, with SinceUtc
    )


def test_unknown_names_are_a_clear_error() -> None:
    with pytest.raises(UnknownScriptError, match="unknown probe 'schedular'") as info:
        load_probe("schedular")
    assert "scheduler" in str(info.value)  # the fix lists the known names
    with pytest.raises(UnknownScriptError, match="unknown action"):
        load_action("scheduler")  # a probe is not an action


def test_loading_is_cached() -> None:
    assert load_probe("scheduler") is load_probe("scheduler")


def test_parameter_names_reader_ignores_attributes_defaults_and_comments() -> None:
    sample = (
        "# x\n<# param($Nope) #>\n[CmdletBinding()]\nparam(\n"
        "  [ValidateSet('$a', \"b\")][string]$First = '$x',\n"
        "  # $Commented\n  [Parameter(Mandatory)][bool]$Second\n)\n$Third = 1\n"
    )
    assert parameter_names(sample) == ("First", "Second")
    assert parameter_names("Get-Date\n") == ()


# --- per-script gates ------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_parses_without_syntax_errors(script: Script) -> None:
    broken = [(n.start_point, text(n)[:60]) for n in walk(root(script)) if n.type == "ERROR" or n.is_missing]
    assert broken == []


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_first_line_is_the_marker_for_its_file_name(script: Script) -> None:
    first = script.text.splitlines()[0]
    assert first == marker_line(script.kind, script.name) == script.marker
    assert re.fullmatch(r"# entra-standby-(probe|action): [a-z-]+", first)


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_header_comment_names_what_and_sources(script: Script) -> None:
    lines = script.text.splitlines()
    assert lines[1] == "<#"
    header = script.text[: script.text.index("#>")]
    assert ".SYNOPSIS" in header and "Sources" in header
    assert "https://learn.microsoft.com/" in header


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_param_block_is_cmdletbinding_and_matches_the_contract(script: Script) -> None:
    blocks = [n for n in root(script).children if n.type == "param_block"]
    assert len(blocks) == 1, "exactly one script-level param() block"
    block = blocks[0]
    assert "[CmdletBinding()]" in text(block)
    declared = tuple(
        text(v)[1:]
        for v in walk(block)
        if v.type == "variable" and v.parent is not None and v.parent.type == "script_parameter"
    )
    expected = CONTRACT_PARAMETERS[(script.kind, script.name)]
    assert declared == expected
    assert script.parameters == expected


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_every_command_is_documented(script: Script) -> None:
    own = defined_functions(script)
    external = {name for name in command_names(script) if name.lower() not in own}
    undocumented = sorted(name for name in external if name not in KNOWN_COMMANDS)
    assert undocumented == []
    for name in external:
        assert KNOWN_COMMANDS[name].startswith("https://"), name
    # Helper functions are named with the Es prefix so they can never shadow a real cmdlet.
    assert all(re.fullmatch(r"[A-Za-z]+-Es[A-Za-z0-9]+", f, flags=re.IGNORECASE) for f in own), own


def test_every_known_command_is_used_and_has_an_https_source() -> None:
    used = {name for s in SCRIPTS for name in command_names(s)}
    assert sorted(set(KNOWN_COMMANDS) - used) == []
    for name, url in KNOWN_COMMANDS.items():
        assert url.startswith("https://"), name
        if (
            name.startswith(("Get-ADSync", "Set-ADSync", "Start-ADSync"))
            and "reference-connect-adsync" in url
        ):
            # Listed in Microsoft's reference, or explicitly flagged as not confirmed there.
            assert "UNCONFIRMED" in url or " " not in url, name


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_inputs_are_never_formatted_into_code(script: Script) -> None:
    names = {n.lower() for n in command_names(script)}
    assert names.isdisjoint(FORBIDDEN_COMMANDS)
    nodes = list(walk(root(script)))
    assert not [n for n in nodes if n.type == "format_operator"], "no -f formatting"
    assert not [n for n in nodes if n.type == "command_invokation_operator"], "no & or . invocation"
    assert "scriptblock]::create" not in script.text.lower()
    assert "newscriptblock" not in script.text.lower()
    params = {p.lower() for p in script.parameters}
    for node in nodes:
        if node.type == "expandable_string_literal":
            inside = {text(v)[1:].lower() for v in walk(node) if v.type == "variable"}
            assert not inside & params, f"parameter expanded into a string: {text(node)}"


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_windows_powershell_51_only(script: Script) -> None:
    code = code_without_comments_and_strings(script)
    for token in ("??", "?.", "&&", "||", "-AsHashtable", "-Parallel", "::new(", "clean {"):
        assert token not in code, token
    assert not re.search(r"\s\?\s[^|{}]*?\s:\s", code.replace("::", "")), "ternary operator"
    pwsh7_only = {
        "get-error",
        "foreach-object -parallel",
        "convertfrom-json -ashashtable",
        "test-json",
        "join-string",
        "get-uptime",
        "remove-alias",
        "remove-service",
    }
    assert {n.lower() for n in command_names(script)}.isdisjoint(pwsh7_only)


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_emits_one_compressed_json_envelope_and_never_throws(script: Script) -> None:
    converts = [
        n.parent
        for n in walk(root(script))
        if n.type == "command_name" and text(n) == "ConvertTo-Json" and n.parent is not None
    ]
    assert converts, "emits with ConvertTo-Json"
    for command in converts:
        args = text(command)
        assert "-Depth 10" in args and "-Compress" in args, args
    top = root(script).children
    statements = [n for n in top if n.type == "statement_list"]
    assert statements, "the script has a body"
    body = statements[-1].children
    tries = [n for n in body if n.type == "try_statement"]
    assert len(tries) == 1, "one top-level try/catch around the work"
    attempt = tries[0]
    assert "catch" in text(attempt)
    assert re.search(r"try\s*\{\s*\$ErrorActionPreference = 'Stop'", text(attempt)), "Stop inside the try"
    after = body[body.index(attempt) + 1 :]
    assert len(after) == 1 and "Write-EsEnvelope" in text(after[0]), "one output statement after the try"
    envelope_kind = "probe" if script.kind == "probe" else "action"
    assert f"New-EsEnvelope -Kind '{envelope_kind}' -Name '{script.name}'" in script.text
    for key in ("schema", "ok", "data", "error"):
        assert f"$envelope['{key}']" in script.text
    for kind in ("CommandNotFound", "AccessDenied", "NotInstalled", "Failed"):
        assert f"'{kind}'" in script.text


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_undocumented_adsync_cmdlets_are_flagged_in_the_script(script: Script) -> None:
    unconfirmed = {n for n, url in KNOWN_COMMANDS.items() if "UNCONFIRMED" in url}
    used = set(command_names(script)) & unconfirmed
    for name in used:
        assert "UNCONFIRMED" in script.text, name


@pytest.mark.parametrize("script", [s for s in SCRIPTS if s.kind == "action" and s.name != "write-canary"],
                         ids=lambda s: s.name)
def test_actions_return_the_scheduler_state(script: Script) -> None:
    assert "$data = Get-EsSchedulerData" in script.text
    assert "Get-ADSyncScheduler" in command_names(script)


# --- shared helpers: one source of truth -----------------------------------------------------------------


def canonical_helpers() -> str:
    return CANONICAL_HELPERS.read_text(encoding="utf-8")


def helper_region(text: str) -> str:
    """The text between the one BEGIN line and the one END line of a script (fails on any other layout)."""
    lines = text.splitlines(keepends=True)
    begins = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == REGION_BEGIN]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == REGION_END]
    assert len(begins) == 1, f"{len(begins)} helper region starts"
    assert len(ends) == 1, f"{len(ends)} helper region ends"
    assert begins[0] < ends[0]
    return "".join(lines[begins[0] + 1 : ends[0]])


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_helper_region_is_the_canonical_file(script: Script) -> None:
    assert helper_region(script.text) == canonical_helpers(), (
        f"{script.kind} {script.name}: the loaded script must carry exactly probes/helpers/common.ps1"
    )


def test_canonical_helpers_are_not_a_probe_and_parse_cleanly() -> None:
    # Outside the probes/*.ps1 glob that the package data, the catalogue and the lab use.
    assert CANONICAL_HELPERS.parent != REPO / "entra_standby" / "probes"
    source = canonical_helpers()
    assert source.endswith("\n")
    assert REGION_BEGIN not in source and REGION_END not in source
    assert not source.startswith("# entra-standby-")  # no marker: the lab must never take it for a probe
    tree = _tree_root(source)
    broken = [(n.start_point, text(n)[:60]) for n in walk(tree) if n.type == "ERROR" or n.is_missing]
    assert broken == []
    # Only function definitions: nothing runs when a script includes the helpers.
    assert {n.type for n in tree.children} <= {"comment", "statement_list"}
    statements = [c for n in tree.children if n.type == "statement_list" for c in n.children]
    kinds = [n.type for n in statements]
    assert kinds and set(kinds) == {"function_statement"}, kinds


def test_canonical_helpers_use_only_known_commands() -> None:
    tree = _tree_root(canonical_helpers())
    own = {text(n).lower() for n in walk(tree) if n.type == "function_name"}
    assert all(re.fullmatch(r"[A-Za-z]+-Es[A-Za-z0-9]+", f, flags=re.IGNORECASE) for f in own), own
    external = {text(n) for n in walk(tree) if n.type == "command_name"} - {
        text(n) for n in walk(tree) if n.type == "command_name" and text(n).lower() in own
    }
    assert external, "the helpers call real cmdlets (ConvertTo-Json, New-Object, Get-ADSyncScheduler)"
    assert sorted(external - set(KNOWN_COMMANDS)) == []
    # Each script keeps its own helpers outside the region; none redefines a shared one.
    for script in SCRIPTS:
        outside = script.text.replace(helper_region(script.text), "", 1)
        redefined = {text(n).lower() for n in walk(_tree_root(outside)) if n.type == "function_name"} & own
        assert redefined == set(), f"{script.name} redefines {sorted(redefined)}"


def test_source_files_hold_one_empty_region_and_no_helper_copy() -> None:
    for folder in ("probes", "actions"):
        for path in (REPO / "entra_standby" / folder).glob("*.ps1"):
            source = path.read_text(encoding="utf-8")
            assert source.count(f"{REGION_BEGIN}\n{REGION_END}\n") == 1, path.name
            assert "function Get-EsErrorKind" not in source, f"{path.name} carries a copy of the helpers"


def test_a_script_without_its_region_is_refused_by_name() -> None:
    with pytest.raises(EntraStandbyError, match=r"probes/x\.ps1: expected exactly one empty helpers region"):
        with_helpers("# entra-standby-probe: x\nparam()\n", "function Get-EsX { }\n", where="probes/x.ps1")
    doubled = f"{REGION_BEGIN}\n{REGION_END}\n" * 2
    with pytest.raises(EntraStandbyError, match="exactly one"):
        with_helpers(doubled, "function Get-EsX { }\n", where="probes/x.ps1")


def test_cli_prints_the_complete_script_as_sent() -> None:
    result = subprocess.run([sys.executable, "-m", "entra_standby.cli", "probe", "show", "set-staging",
                             "--action"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == load_action("set-staging").text
    assert result.stdout.startswith(marker_line("action", "set-staging"))
    assert helper_region(result.stdout) == canonical_helpers()


# --- the gates can fail ----------------------------------------------------------------------------------


def _mutant(old: str, new: str, base: str = "service") -> Script:
    original = load_probe(base)
    assert old in original.text
    changed = original.text.replace(old, new, 1)
    return Script(original.name, original.kind, changed, parameter_names(changed))


@pytest.mark.parametrize(
    ("gate", "old", "new"),
    [
        (
            test_first_line_is_the_marker_for_its_file_name,
            "# entra-standby-probe: service",
            "# entra-standby-probe: svc",
        ),
        (test_parses_without_syntax_errors, "$data = [ordered]@{", "$data = $x ?? [ordered]@{"),
        (test_helper_region_is_the_canonical_file, "return 'Failed'", "return 'Fail'"),
        (test_helper_region_is_the_canonical_file, REGION_END, REGION_END + "\n" + REGION_END),
        (test_param_block_is_cmdletbinding_and_matches_the_contract, "[string]$ServiceName", "[string]$Name"),
        (test_every_command_is_documented, "$service = Get-Service", "$service = Get-WmiObject"),
        (
            test_inputs_are_never_formatted_into_code,
            "$service = Get-Service -Name $ServiceName",
            "$service = Invoke-Expression ('Get-Service -Name {0}' -f $ServiceName)",
        ),
        (
            test_inputs_are_never_formatted_into_code,
            "Where-Object { $_.Name -eq $ServiceName }",
            "Where-Object { $_.Filter -eq \"Name='$ServiceName'\" }",
        ),
        (
            test_windows_powershell_51_only,
            "$data['exists'] = $true",
            "$data['exists'] = ($service ? $true : $false)",
        ),
        (
            test_emits_one_compressed_json_envelope_and_never_throws,
            "-Depth 10 -Compress\n    }",
            "-Compress\n    }",
        ),
        (
            test_emits_one_compressed_json_envelope_and_never_throws,
            "try {\n    $ErrorActionPreference = 'Stop'\n",
            "try {\n",
        ),
    ],
)
def test_gates_reject_a_broken_script(gate: object, old: str, new: str) -> None:
    assert callable(gate)
    with pytest.raises(AssertionError):
        gate(_mutant(old, new))
