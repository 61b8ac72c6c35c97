"""The lab answers what it can evaluate faithfully and refuses the rest the way PowerShell 5.1 would.

Engine level: every case is a script (or a PSRP command) and either its exact output or the error id a real
server gives (ParseError / ParameterBinding ids, CommandNotFoundException), or LabNotServed for valid
PowerShell the lab does not evaluate. tests/lab/test_honest_clients.py runs the headline cases through
unmodified clients.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_sim_helpers import run_cmdlet, run_script

from entra_standby.lab.engine import CommandCall, Invocation
from entra_standby.lab.lab import Lab

SCENARIOS = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"
GET_SCHEDULER = "Microsoft.IdentityManagement.PowerShell.Cmdlet.GetADSyncSchedulerCmdlet"
SLEEP = "Microsoft.PowerShell.Commands.StartSleepCommand"
OUTPUT = "Microsoft.PowerShell.Commands.WriteOutputCommand"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(SCENARIOS / "healthy-pair.yml", serve=False) as running:
        yield running


@pytest.fixture
def standby(lab: Lab) -> Any:
    return lab.servers["aadc02"].engine


SERVED: list[tuple[str, list[Any]]] = [
    ("Get-ADSyncScheduler | Select-Object -ExpandProperty StagingModeEnabled", [True]),
    ("get-adsyncscheduler | select-object -exp stagingmodeenabled", [True]),  # case, unique prefix
    ("Get-ADSyncScheduler | Select-Object StagingModeEnabled, SyncCycleEnabled",
     [{"StagingModeEnabled": True, "SyncCycleEnabled": True}]),
    ("Write-Output 'a b' c", ["a b", "c"]),  # InputObject takes the remaining arguments
    ("Write-Output a,b", ["a", "b"]),
    ("Write-Output 'it''s' 0x10 -5 2kb 1.5 $true $null", ["it's", 16, -5, 2048, 1.5, True, None]),
    ('Write-Output "plain double"', ["plain double"]),
    ("Write-Output 0xFFFFFFFF 0x80000000 5l +5 1e3 .5 1.5kb", [-1, -(2**31), 5, 5, 1000.0, 0.5, 1536.0]),
    ("Write-Output -InputObject x; Write-Output -Inp:y", ["x", "y"]),
    ("Write-Output first |\n  Out-String -Stream  # a comment\n<# block #> Write-Output second",
     ["first", "second"]),
    ("Write-Output 1,2 | Out-String", ["1\r\n2\r\n"]),
    ("Write-Output 1e3 0.1 1e20 $true | Out-String -Stream", ["1000", "0.1", "1E+20", "True"]),
    ("Invoke-Expression 'Write-Output inner'", ["inner"]),
    ("Start-Sleep -ms 1; Start-Sleep -Sec 0; Start-Sleep 0", []),
    # Windows PowerShell's built-in aliases and module-qualified names resolve as on a real server
    ("echo a; write b; sleep 0; iex 'echo c'", ["a", "b", "c"]),
    ("ADSync\\Get-ADSyncScheduler | select -ExpandProperty StagingModeEnabled", [True]),
    ("Microsoft.PowerShell.Utility\\Write-Output x", ["x"]),
]


@pytest.mark.parametrize(("script", "expected"), SERVED, ids=[s for s, _ in SERVED])
def test_served_scripts_answer_exactly(standby: Any, script: str, expected: list[Any]) -> None:
    result = run_script(standby, script)
    assert result.failure is None, result.failure
    assert (result.outputs, result.errors) == (expected, [])


REFUSED: list[tuple[str, str]] = [
    # the parser: PowerShell's ParseError ids
    ("Write-Output 'abc", "TerminatorExpectedAtEndOfString"),
    ('Write-Output "abc', "TerminatorExpectedAtEndOfString"),
    ("Get-ADSyncScheduler |", "EmptyPipeElement"),
    ("| Write-Output a", "EmptyPipeElement"),
    ("Write-Output a && Write-Output b", "InvalidEndOfLine"),
    ("Write-Output a || Write-Output b", "InvalidEndOfLine"),
    ("Write-Output (1", "MissingEndParenthesisInExpression"),
    ("Write-Output { 1", "MissingEndCurlyBrace"),
    ("Write-Output )", "UnexpectedToken"),
    ("Write-Output a < b", "RedirectionNotSupported"),
    ("Write-Output a,", "MissingExpressionAfterToken"),
    ("<# never closed\nWrite-Output a", "MissingTerminatorMultiLineComment"),
    # the binder: ParameterBinding ids, suffixed with the cmdlet's class as PowerShell does
    ("Get-ADSyncScheduler -Bogus 1", f"NamedParameterNotFound,{GET_SCHEDULER}"),
    ("Get-ADSyncScheduler extra", f"PositionalParameterNotFound,{GET_SCHEDULER}"),
    ("Start-Sleep abc", f"CannotConvertArgumentNoMessage,{SLEEP}"),
    ("Start-Sleep -Seconds", f"MissingArgument,{SLEEP}"),
    ("Start-Sleep -Seconds 1 -Milliseconds 1", f"AmbiguousParameterSet,{SLEEP}"),
    ("Start-Sleep -Seconds 1 -Seconds 2", f"ParameterAlreadyBound,{SLEEP}"),
    ("Start-Sleep -e 1", f"AmbiguousParameter,{SLEEP}"),
    ("Write-Output -I:y", f"AmbiguousParameter,{OUTPUT}"),  # InputObject, InformationAction...
    ("Start-Sleep", f"MissingMandatoryParameter,{SLEEP}"),
    ("Start-Sleep -1", f"ParameterArgumentValidationError,{SLEEP}"),
    ("Start-Sleep -Seconds 99999999999", f"CannotConvertArgumentNoMessage,{SLEEP}"),
    ("Write-Output -InputObject", f"MissingArgument,{OUTPUT}"),
    ("Out-String -Stream:'yes'", "ParameterArgumentTransformationError,Microsoft.PowerShell.Commands."
                                 "OutStringCommand"),
    ("Invoke-Expression -Command $null",
     "ParameterArgumentValidationErrorNullNotAllowed,Microsoft.PowerShell.Commands.InvokeExpressionCommand"),
    # unknown commands
    ("Get-Process", "CommandNotFoundException"),
    ("Get-ADSyncScheduler.StagingModeEnabled", "CommandNotFoundException"),
    ("ADSync\\Write-Output x", "CommandNotFoundException"),
    # valid PowerShell the lab does not evaluate
    ("Write-Output $x", "LabNotServed"),
    ("Write-Output $(Get-ADSyncScheduler)", "LabNotServed"),
    ("(Get-ADSyncScheduler).StagingModeEnabled", "LabNotServed"),
    ("Invoke-Command { Get-ADSyncScheduler }", "LabNotServed"),
    ("Write-Output @args", "LabNotServed"),
    ("Write-Output @(1)", "LabNotServed"),
    ('Write-Output "staging: $staging"', "LabNotServed"),
    ("Write-Output a`b", "LabNotServed"),
    ("Write-Output 'a'b", "LabNotServed"),
    ("Write-Output $true.x", "LabNotServed"),
    ("Write-Output [int]5", "LabNotServed"),
    ("Write-Output a > out.txt", "LabNotServed"),
    ("& Get-ADSyncScheduler", "LabNotServed"),
    ("$x = 1", "LabNotServed"),
    ("1 + 2", "LabNotServed"),
    ("'Get-ADSyncScheduler'", "LabNotServed"),
    ("foreach x", "LabNotServed"),
    ("Write-Output -- -x", "LabNotServed"),
    ("Write-Output a,b c", "LabNotServed"),
    ("Write-Output -NoEnumerate 1", "LabNotServed"),
    ("Get-ADSyncScheduler -ErrorAction Stop", "LabNotServed"),
    ("Get-ADSyncScheduler -Verbose", "LabNotServed"),
    ("Select-Object -First 1", "LabNotServed"),
    ("Get-ADSyncScheduler | Select-Object -Property Stag*", "LabNotServed"),
    ("Get-ADSyncScheduler | Out-String", "LabNotServed"),
    ("Write-Output a | Get-ADSyncScheduler", "LabNotServed"),
    ("Write-Output a | Select-Object -ExpandProperty Length", "LabNotServed"),
    ("Start-ADSyncSyncCycle Delta $true", "LabNotServed"),
    ("Start-Sleep \u2013Seconds 0", "LabNotServed"),
    ("Write-Output 1d", "LabNotServed"),
    ("Write-Output 99999999999999999999", "LabNotServed"),
]


@pytest.mark.parametrize(("script", "error_id"), REFUSED, ids=[s for s, _ in REFUSED])
def test_refused_scripts_fail_like_powershell(standby: Any, script: str, error_id: str) -> None:
    result = run_script(standby, script)
    assert result.failure is not None, result.outputs
    assert result.failure.fully_qualified_error_id == error_id, result.failure.message
    assert result.outputs == []


def test_exact_messages(standby: Any) -> None:
    def message(script: str) -> str:
        failure = run_script(standby, script).failure
        assert failure is not None
        return failure.message

    assert message("Get-ADSyncScheduler -Bogus 1") == (
        "A parameter cannot be found that matches parameter name 'Bogus'.")
    assert message("Get-ADSyncScheduler extra") == (
        "A positional parameter cannot be found that accepts argument 'extra'.")
    assert message("Write-Output 'abc") == "The string is missing the terminator: '."
    assert message("Start-Sleep abc") == (
        "Cannot bind parameter 'Seconds'. Cannot convert value \"abc\" to type \"System.Int32\". "
        "Error: \"Input string was not in a correct format.\"")
    assert message("Get-Process").startswith("The term 'Get-Process' is not recognized")
    assert "variables" in message("Write-Output $x") and "docs/scenarios.md" in message("Write-Output $x")


def test_a_parse_error_runs_nothing(lab: Lab) -> None:
    active = lab.servers["aadc01"]
    result = run_script(active.engine, "Start-ADSyncSyncCycle Delta; Write-Output 'unterminated")
    assert result.failure is not None and result.failure.category == "ParserError"
    assert active.state.sync_cycle_in_progress is False and result.outputs == []


def test_a_refused_statement_keeps_what_ran_before_it(standby: Any) -> None:
    result = run_script(standby, "Write-Output before; Get-ADSyncScheduler -Bogus 1; Write-Output after")
    assert result.outputs == ["before"]
    assert result.failure is not None and result.failure.fully_qualified_error_id.startswith(
        "NamedParameterNotFound,")


def test_a_missing_expanded_property_is_a_non_terminating_error(standby: Any) -> None:
    result = run_script(standby, "Get-ADSyncScheduler | Select-Object -ExpandProperty Nope; Write-Output on")
    assert result.failure is None and result.outputs == ["on"]
    assert [e.fully_qualified_error_id for e in result.errors] == [
        "ExpandPropertyNotFound,Microsoft.PowerShell.Commands.SelectObjectCommand"]
    assert result.errors[0].message == 'Property "Nope" cannot be found.'


def test_psrp_commands_bind_the_same_way(standby: Any) -> None:
    bogus = run_cmdlet(standby, "Get-ADSyncScheduler", Bogus=1).failure
    assert bogus is not None and bogus.fully_qualified_error_id == f"NamedParameterNotFound,{GET_SCHEDULER}"
    assert run_cmdlet(standby, "Write-Output", **{"@0": "a", "@1": "b"}).outputs == ["a", "b"]
    assert run_cmdlet(standby, "Start-Sleep", Sec=0).failure is None
    # a string passed as a parameter value is data, never code
    assert run_cmdlet(standby, "Write-Output", InputObject="$x; (1)").outputs == ["$x; (1)"]
    # a PSRP pipeline: Get-ADSyncScheduler | Select-Object -ExpandProperty StagingModeEnabled
    piped = Invocation(commands=(
        CommandCall("Get-ADSyncScheduler", False, end_of_statement=False),
        CommandCall("Select-Object", False, {"ExpandProperty": "StagingModeEnabled"}),
    ))
    assert standby.invoke(piped, threading.Event()).outputs == [True]
    # execute_ps's shape, with pipeline input and Out-String -Stream's switch sent without a value
    stream = Invocation(commands=(CommandCall("Out-String", False, {"Stream": None}),), input=("a\r\nb", 3))
    assert standby.invoke(stream, threading.Event()).outputs == ["a", "b", "3"]


def test_arguments_to_a_script_without_param_block_are_refused(standby: Any) -> None:
    result = run_script(standby, "Write-Output x", Name="y")
    assert result.failure is not None and result.failure.fully_qualified_error_id == "LabNotServed"


def test_adsync_cmdlets_are_unknown_where_adsync_is_not_installed() -> None:
    scenario = {"name": "no-adsync", "servers": {"aadc02": {"service": {"exists": False}}}}
    with Lab(scenario, serve=False) as bare:
        engine = bare.servers["aadc02"].engine
        for script in ("Get-ADSyncScheduler -Bogus 1", "ADSync\\Start-ADSyncSyncCycle"):
            failure = run_script(engine, script).failure
            assert failure is not None and failure.fully_qualified_error_id == "CommandNotFoundException"
        assert run_script(engine, "Write-Output still").outputs == ["still"]
