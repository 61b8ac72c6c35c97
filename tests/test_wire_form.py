"""What travels (issue 13): the probes' wire form, its safety check, and everything that reads script text."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from labkit import engine_only_lab, invoke_engine
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from entra_standby.lab import Lab
from entra_standby.lab.engine import CommandCall
from entra_standby.lab.handlers import _first_helper_called
from entra_standby.lab.probes import run_times_as_utc
from entra_standby.prepared import batch_statements
from entra_standby.probes import (
    ACTION_NAMES,
    HELPERS_REGION_BEGIN,
    PROBE_NAMES,
    helpers_script,
    helpers_source,
    load_action,
    load_probe,
    needs_helpers,
    parameter_names,
    without_helpers,
)
from entra_standby.probes.wire import (
    StripUnsafeError,
    as_sent,
    assert_strip_safe,
    probe_sent_alone,
    wire_form,
)
from entra_standby.remoting import ProbeCall, _add_script, probe_calls

SCENARIOS = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios"


def _bare(name: str) -> str:
    text = without_helpers(load_probe(name).text)
    assert text is not None
    return text


def _shipped() -> list[tuple[str, str]]:
    """Every text that may travel: probes bare and whole, the helpers, the actions."""
    texts = [(f"probes/{n}.ps1", _bare(n)) for n in PROBE_NAMES]
    texts += [(f"probes/{n}.ps1 (with helpers)", load_probe(n).text) for n in PROBE_NAMES]
    texts += [("helpers", helpers_script()), ("common.ps1", helpers_source())]
    texts += [(f"actions/{n}.ps1", load_action(n).text) for n in ACTION_NAMES]
    return texts


def _rule_as_written(text: str) -> list[str]:
    """The rule in its own words, line by line: blank lines, lines starting with '#', and '<#' blocks that
    start a line (to the first line ending with '#>') go; the remaining lines stay, in order."""
    kept: list[str] = []
    block = False
    for line in text.split("\n"):
        s = line.strip()
        if block:
            block = not s.endswith("#>")
        elif s.startswith("<#"):
            block = not (len(s) > 3 and s.endswith("#>"))
        elif s and not s.startswith("#"):
            kept.append(line)
    return kept


# --- every shipped script is provably safe; the wire form is exactly the rule's output -------------------


@pytest.mark.parametrize(("where", "text"), _shipped(), ids=[w for w, _ in _shipped()])
def test_every_shipped_script_passes_the_check(where: str, text: str) -> None:
    assert_strip_safe(text, where)
    assert wire_form(text, where) != text  # and loses its comments


@pytest.mark.parametrize(("where", "text"), _shipped(), ids=[w for w, _ in _shipped()])
def test_wire_form_keeps_every_code_line_in_order_and_only_drops_comments(where: str, text: str) -> None:
    wire = wire_form(text, where).split("\n")
    assert wire[-1] == ""  # a trailing newline, as the source
    wire.pop()
    marker = text.split("\n", 1)[0]
    expected = [line.lstrip(" \t") for line in _rule_as_written(text)]
    if marker.startswith("# entra-standby-"):
        assert wire[0] == marker  # the lab and event 4104 name the script by it
        wire = wire[1:]
    assert wire == expected
    assert not any(line.startswith(("#", " ", "\t")) or not line for line in wire)
    assert wire_form(wire_form(text, where)) == wire_form(text, where)  # nothing left to strip


def test_the_batch_is_the_wire_form_and_saves_what_the_comments_weighed() -> None:
    calls = probe_calls()
    statements = batch_statements(calls)
    assert statements[1].text == wire_form(helpers_script())
    for call, statement in zip(calls, statements[2:], strict=True):
        assert statement.text == wire_form(_bare(call.name))
        assert statement.text.split("\n", 1)[0] == load_probe(call.name).marker
    sent = sum(len(s.text) for s in statements)
    shipped = len(helpers_script()) + sum(len(_bare(c.name)) for c in calls)
    assert sent < 0.7 * shipped, (sent, shipped)


def test_marker_requires_and_continued_lines_are_kept() -> None:
    text = ("# entra-standby-probe: x\n#Requires -Version 5.1\n  # gone\n\n<#\n help\n#>\n"
            "    Get-Thing -A 1 `\n        -B 2\n    $b = 'a # b' # trailing comment stays\n")
    assert wire_form(text) == ("# entra-standby-probe: x\n#Requires -Version 5.1\nGet-Thing -A 1 `\n"
                               "        -B 2\n$b = 'a # b' # trailing comment stays\n")
    assert wire_form("# not a marker\nWrite-Output 1") == "Write-Output 1"
    assert wire_form("<# one-line block #>\n$a = 1\n") == "$a = 1\n"


# --- anything the line rule could get wrong is refused, naming the file and the line ----------------------


_MUTANTS = {
    "here-string": "$s = @'\n# x\n'@\n",
    "double here-string": '$s = @"\n# x\n"@\n',
    "multi-line double-quoted string": '$s = "first\n# a line of the string\n"\n',
    "multi-line single-quoted string": "$s = 'first\n# a line of the string\n'\n",
    "backtick newline inside double quotes": '$s = "first `\n# x\n"\n',
    "subexpression spanning lines": '$s = "$(\n# x\n1)"\n',
    "a#b": "$a#b = 1\n",
    "hash right after a brace": "if ($x) {# comment\n}\n",
    "inline block comment": "$a = 1 <# inline #> + 2\n",
    "block comment opening mid-line": "$a = 1 <# opens\nhere #>\n",
    "code after a block's end": "<#\nhelp\n#> $a = 1\n",
    "code after a one-line block": "<# c #> $a = 1\n",
    "stray block end": "#> \n$a = 1\n",
    "block end in a trailing comment": "$a = 1 # see #>\n",
    "unclosed block": "<#\nhelp\n",
    "continuation before a comment line": "Get-Thing -A 1 `\n# comment\n-B 2\n",
    "continuation before a blank line": "Get-Thing -A 1 `\n\n-B 2\n",
    "continuation before a block": "Get-Thing -A 1 `\n<# c #>\n-B 2\n",
    "continuation at the end": "Get-Thing -A 1 `",
    "stop-parsing token": "cmd.exe --% /c echo '\n# x\n",
    "braced variable": "${a#b} = 1\n",
    "braced variable in a string": '$s = "${a"}"\n# x\n',
    "here-string in a subexpression": '$s = "$(@\'\n# x\n\'@)"\n',
    "comment inside a string's subexpression": '$s = "$(1 # x)"\n',
    # PowerShell reads "$$(" as the variable $$ and a literal "(", so the '"' inside closes the string and the
    # "'" after it opens one that runs on over the next lines: "# hidden" is string text, not a comment.
    "the $$ variable before a parenthesis in a string": "Write-Output \"$$('\"')\"\n# hidden\n'' #'\n",
    "typographic quote": "$s = \u2018a\n# x\n\u2019\n",
    "line separator": "$a = 1\u2028# x\n",
}


@pytest.mark.parametrize("mutant", list(_MUTANTS.values()), ids=list(_MUTANTS))
def test_a_risky_script_is_refused(mutant: str) -> None:
    with pytest.raises(StripUnsafeError) as refused:
        assert_strip_safe(mutant, "probes/x.ps1")
    assert "probes/x.ps1" in str(refused.value)
    with pytest.raises(StripUnsafeError):
        wire_form(mutant, "probes/x.ps1")
    assert as_sent(mutant, "probes/x.ps1") == mutant  # what is not proven safe travels unchanged


@pytest.mark.parametrize("mutant", [m for k, m in _MUTANTS.items() if "end" not in k and "unclosed" not in k],
                         ids=[k for k in _MUTANTS if "end" not in k and "unclosed" not in k])
def test_a_risky_line_in_a_shipped_probe_is_refused_with_its_line(mutant: str) -> None:
    lines = _bare("scheduler").split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("try {")) + 1
    mutated = "\n".join([*lines[:at], mutant.rstrip("\n"), *lines[at:]])
    with pytest.raises(StripUnsafeError, match=r"^probes/scheduler\.ps1 line (\d+)") as refused:
        assert_strip_safe(mutated, "probes/scheduler.ps1")
    number = int(str(refused.value).split(" line ", 1)[1].split(":", 1)[0])
    assert at + 1 <= number <= at + 1 + mutant.count("\n")


def test_safe_neighbours_of_the_mutants_pass() -> None:
    """The check refuses what it must, not everything that looks alike."""
    for text in ("$a = 'it''s # not a comment'\n", '$a = "say ""#"" and `"#`""\n', '$a = "$($b.Count) #"\n',
                 "$a = 1 # a trailing comment with 'quotes\n", "$h = @{ a = '#' }\n", "Write-Output `#x\n",
                 '$a = "$$$(1) $$"\n'):
        assert_strip_safe(text, "probes/x.ps1")


# --- one probe sent on its own, and probe show --------------------------------------------------------------


def test_a_probe_sent_alone_goes_in_its_wire_form_actions_whole() -> None:
    pool = RunspacePool(WSMan("127.0.0.1", username="u", password="p", ssl=False, auth="basic",
                              encryption="never"))
    pool.protocol_version = "2.3"  # never connects
    ps = PowerShell(pool)
    probe = probe_calls(["os"], {"os": {"MaxUpdateHistory": 3}})[0]
    _add_script(ps, probe)
    assert ps.commands[0].cmd == wire_form(load_probe("os").text) == probe_sent_alone(probe.text, "os")
    assert not needs_helpers(ps.commands[0].cmd)  # the helpers travel inside it
    action = load_action("set-staging").text
    assert probe_sent_alone(action, "set-staging") == action
    own = "# entra-standby-probe: custom\n# kept\nWrite-Output 1\n"
    assert probe_sent_alone(own, "custom") == own  # not a catalogue probe


@pytest.mark.parametrize("as_sent_flag", [False, True])
def test_probe_show_prints_as_shipped_or_as_sent(as_sent_flag: bool) -> None:
    args = [sys.executable, "-m", "entra_standby.cli", "probe", "show", "run-history"]
    out = subprocess.run(args + (["--as-sent"] if as_sent_flag else []), capture_output=True, text=True,
                         check=True, timeout=60).stdout
    if as_sent_flag:
        sent = batch_statements(probe_calls(["run-history"]))[-1].text
        assert out == sent == wire_form(_bare("run-history"))
    else:
        assert out == load_probe("run-history").text and HELPERS_REGION_BEGIN in out


# --- everything that reads script text reads the wire form alike ------------------------------------------


@pytest.mark.parametrize("name", PROBE_NAMES)
def test_script_readers_agree_on_the_wire_form(name: str) -> None:
    full, bare = load_probe(name).text, _bare(name)
    wire, alone = wire_form(bare), wire_form(full)
    assert needs_helpers(bare) and needs_helpers(wire)
    assert not needs_helpers(full) and not needs_helpers(alone)
    first = _first_helper_called(wire)  # what the lab names when the helpers are missing
    assert first == _first_helper_called(bare) and f"function {first}" in full
    assert parameter_names(wire) == parameter_names(bare) == parameter_names(full)
    assert parameter_names(wire) == load_probe(name).parameters
    assert run_times_as_utc(wire) == run_times_as_utc(bare) == run_times_as_utc(alone)


def test_run_times_as_utc_still_reads_a_changed_wire_form() -> None:
    """R1: the lab answers what the script would make of the run times; it reads the wire form too."""
    wire = wire_form(_bare("run-history"))
    assert run_times_as_utc(wire) == {"start": True, "end": True}
    changed = wire.replace("-AssumeUtc", "")
    assert run_times_as_utc(changed) == {"start": False, "end": False}


# --- the lab serves exactly the wire form of the shipped helpers, and the shipped text --------------------


@pytest.fixture(scope="module")
def engine_lab() -> Iterator[Lab]:
    with engine_only_lab() as lab:
        yield lab


_invoke = invoke_engine


def test_lab_runs_the_wire_form_batch(engine_lab: Lab) -> None:
    commands = [CommandCall(s.text, True, use_local_scope=s.use_local_scope, end_of_statement=True,
                            parameters=dict(s.parameters)) for s in batch_statements(probe_calls())]
    result = _invoke(engine_lab, *commands)
    assert result.failure is None and len(result.outputs) == len(PROBE_NAMES)
    assert all('"ok":true' in out for out in result.outputs), result.outputs


def test_lab_refuses_a_wire_form_probe_without_the_helpers(engine_lab: Lab) -> None:
    result = _invoke(engine_lab, CommandCall(wire_form(_bare("version")), True, use_local_scope=True))
    assert result.failure is not None and result.outputs == []
    assert result.failure.fully_qualified_error_id == "CommandNotFoundException"
    assert result.failure.target == _first_helper_called(_bare("version"))


def test_lab_runs_a_wire_form_probe_sent_alone(engine_lab: Lab) -> None:
    result = _invoke(engine_lab, CommandCall(wire_form(load_probe("scheduler").text), True,
                                             use_local_scope=True))
    assert result.failure is None and len(result.outputs) == 1 and '"ok":true' in result.outputs[0]


@pytest.mark.parametrize("helpers", [
    wire_form(helpers_script()) + "function Get-EsExtra { 1 }\n",
    wire_form(helpers_script()).replace("return 'Failed'", "return 'AccessDenied'", 1),
    wire_form(helpers_script()).rstrip("\n"),
])
def test_lab_refuses_any_other_helpers_text(engine_lab: Lab, helpers: str) -> None:
    assert helpers != wire_form(helpers_script())
    result = _invoke(engine_lab, CommandCall(helpers, True, use_local_scope=False),
                     CommandCall(wire_form(_bare("scheduler")), True, use_local_scope=True))
    assert result.failure is not None and result.outputs == []


@pytest.mark.parametrize("helpers", [helpers_script(), wire_form(helpers_script())])
def test_lab_helpers_in_either_form_define_only_when_dot_sourced(engine_lab: Lab, helpers: str) -> None:
    for local, works in ((False, True), (True, False)):
        result = _invoke(engine_lab, CommandCall(helpers, True, use_local_scope=local),
                         CommandCall(wire_form(_bare("scheduler")), True, use_local_scope=True))
        assert (result.failure is None and len(result.outputs) == 1) is works


def test_a_catalogue_shaped_probe_that_fails_the_check_is_batched_unstripped() -> None:
    """A call carrying the shipped helpers but a body the check refuses still shares the helpers, and its
    body travels as it is, never stripped."""
    full = load_probe("scheduler").text
    head, _, tail = full.rpartition("\ntry {\n")  # the probe's own body, after the helpers
    risky = head + "\ntry {\n    $note = @'\n# not a comment\n'@\n" + tail
    assert risky != full
    statements = batch_statements([ProbeCall("scheduler", risky), *probe_calls(["version"])])
    assert statements[1].text == wire_form(helpers_script())
    assert statements[2].text == without_helpers(risky) and "# not a comment" in statements[2].text
    assert statements[3].text == wire_form(_bare("version"))
