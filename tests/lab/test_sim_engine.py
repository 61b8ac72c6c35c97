"""The simulated server's answers to probes, actions and bare cmdlets (engine level, no wire)."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
import typing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lab_sim_helpers import PROBES, action, probe, probe_data, run_cmdlet, run_script

from entra_standby.facts import model
from entra_standby.lab.engine import CommandCall, Invocation
from entra_standby.lab.lab import Lab
from entra_standby.lab.probes import PROBE_PARAMETERS
from entra_standby.lab.state import RIGHTS
from entra_standby.probes import load_action, load_probe

SCENARIOS = str(Path(__file__).resolve().parents[2] / "fixtures" / "scenarios")


@pytest.fixture
def healthy() -> Iterator[Lab]:
    with Lab(f"{SCENARIOS}/healthy-pair.yml", serve=False) as lab:
        yield lab


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _nested(cls: type, name: str) -> type | None:
    """The dataclass a field holds (directly, in a tuple, or optional), if any."""
    hint = typing.get_type_hints(cls, vars(model))[name]
    for arg in (hint, *typing.get_args(hint)):
        for inner in (arg, *typing.get_args(arg)):
            if dataclasses.is_dataclass(inner) and isinstance(inner, type):
                return inner
    return None


def _assert_shape(cls: type, data: Any, where: str) -> None:
    assert isinstance(data, dict), where
    assert set(data) == _fields(cls), f"{where}: {sorted(set(data) ^ _fields(cls))}"
    for key, value in data.items():
        inner = _nested(cls, key)
        if inner is None or value is None:
            continue
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            _assert_shape(inner, item, f"{where}.{key}[{i}]")


@pytest.mark.parametrize("name", PROBES)
def test_every_probe_answers_the_contract_shape(healthy: Lab, name: str) -> None:
    for server in healthy.servers.values():
        envelope = probe(server.engine, name)
        assert set(envelope) == {"probe", "schema", "ok", "data", "error"}
        assert (envelope["probe"], envelope["schema"], envelope["ok"], envelope["error"]) == (
            name,
            1,
            True,
            None,
        )
        _assert_shape(model.FACT_TYPES[name], envelope["data"], f"{server.name}/{name}")


def test_healthy_pair_defaults(healthy: Lab) -> None:
    active, standby = healthy.servers["aadc01"].engine, healthy.servers["aadc02"].engine
    assert probe_data(active, "scheduler")["staging_mode_enabled"] is False
    assert probe_data(standby, "scheduler")["staging_mode_enabled"] is True
    assert healthy.servers["aadc01"].address == "127.0.0.11" and healthy.servers["aadc02"].role == "standby"
    for engine in (active, standby):
        assert probe_data(engine, "version")["product_version"] == "2.5.79.0"
        tls = probe_data(engine, "tls")
        assert len(tls["values"]) == 8 and tls["dotnet_release"] == 528449
        assert all(v["value"] == (0 if v["name"] == "DisabledByDefault" else 1) for v in tls["values"])
        os_data = probe_data(engine, "os")
        assert (os_data["build"], os_data["reboot"]["cbs_reboot_pending"]) == (20348, False)
        newest_cu = next(
            u for u in os_data["updates"] if "Cumulative Update for Microsoft server" in u["title"]
        )
        age = datetime.now(UTC) - datetime.fromisoformat(newest_cu["date"].replace("0Z", "+00:00"))
        assert timedelta(days=3) < age < timedelta(days=5) and newest_cu["result_code"] == 2
        ad = probe_data(engine, "connectors")["connectors"][0]
        assert ad["account_user"].startswith("MSOL_") and ad["account"]["enabled"] is True
        root = ad["permissions"][0]
        assert root["scope"] == "domain-root"
        granted = {ace["object_type"] for ace in root["aces"]}
        assert {
            RIGHTS["replicating_directory_changes"].object_type,
            RIGHTS["replicating_directory_changes_all"].object_type,
            RIGHTS["reset_password"].object_type,
        } <= granted
        assert [p["scope"] for p in ad["permissions"][1:]] == ["ou", "ou"]
        runs = probe_data(engine, "run-history")["runs"]
        newest = datetime.fromisoformat(runs[0]["start"].replace("0Z", "+00:00"))
        assert datetime.now(UTC) - newest < timedelta(minutes=20)
        assert probe_data(engine, "machine")["adsynctools_versions"][0].startswith("2.")
    def without_ids(config: dict[str, Any]) -> dict[str, Any]:
        # Connector identifiers differ per install (only the Entra connector's is fixed): not configuration.
        return {**config, "connectors": [{k: v for k, v in c.items() if k != "identifier"}
                                         for c in config["connectors"]]}

    assert without_ids(probe_data(active, "config")) == without_ids(probe_data(standby, "config"))
    entra = {c["identifier"] for e in (active, standby) for c in probe_data(e, "config")["connectors"]
             if c["type"] == "Extensible2"}
    assert entra == {"b891884f-051e-4a83-95af-2544101c9083"}
    assert (
        probe_data(active, "machine")["sync_machine_identifier"]
        != probe_data(standby, "machine")["sync_machine_identifier"]
    )
    active_runs = {r["profile"] for r in probe_data(active, "run-history")["runs"]}
    standby_runs = {r["profile"] for r in probe_data(standby, "run-history")["runs"]}
    assert "Export" in active_runs and "Export" not in standby_runs


def test_probe_parameters_are_honoured(healthy: Lab) -> None:
    engine = healthy.servers["aadc01"].engine
    runs = probe_data(engine, "run-history", NumberRequested=3)["runs"]
    assert len(runs) == 3 and runs[0]["start"] >= runs[1]["start"] >= runs[2]["start"]
    assert len(probe_data(engine, "os", MaxUpdateHistory=1)["updates"]) == 1
    other = probe_data(engine, "service", ServiceName="Spooler")
    assert (other["name"], other["exists"], other["status"]) == ("Spooler", False, None)


def test_unknown_parameter_fails_like_powershell(healthy: Lab) -> None:
    result = run_script(healthy.servers["aadc01"].engine, "# entra-standby-probe: tls\n", Verbose2=True)
    assert result.failure is not None and result.failure.fully_qualified_error_id == "NamedParameterNotFound"


def test_adsync_stopped_fails_adsync_probes_only(healthy: Lab) -> None:
    healthy.set_fault("aadc02", adsync_stopped=True)
    engine = healthy.servers["aadc02"].engine
    assert probe_data(engine, "service")["status"] == "Stopped"
    for name in ("scheduler", "run-history", "connectors", "config", "pending-exports"):
        envelope = probe(engine, name)
        assert envelope["ok"] is False and envelope["data"] is None
        assert (
            envelope["error"]["kind"] == "Failed" and "service is not started" in envelope["error"]["message"]
        )
    for name in ("version", "tls", "os", "machine"):
        assert probe(engine, name)["ok"] is True
    started = run_cmdlet(engine, "Start-ADSyncSyncCycle", PolicyType="Delta")
    assert started.failure is not None and "Synchronization Service" in started.failure.message
    healthy.clear_faults("aadc02")
    assert probe(engine, "scheduler")["ok"] is True


def test_malformed_output_is_not_json(healthy: Lab) -> None:
    healthy.set_fault("aadc01", malformed_output=["scheduler"])
    result = run_script(healthy.servers["aadc01"].engine, "# entra-standby-probe: scheduler\n")
    assert result.failure is None and isinstance(result.outputs[0], str)
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.outputs[0])
    assert probe(healthy.servers["aadc01"].engine, "tls")["ok"] is True


def test_unknown_scripts_and_cmdlets_fail_with_command_not_found(healthy: Lab) -> None:
    engine = healthy.servers["aadc01"].engine
    for result in (
        run_script(engine, "Get-Process -Name lsass"),
        run_cmdlet(engine, "Get-ADSyncConnector"),
        run_script(engine, "# entra-standby-probe: no-such-probe\n"),
    ):
        assert result.failure is not None
        assert result.failure.fully_qualified_error_id == "CommandNotFoundException"
        assert result.failure.category == "ObjectNotFound"


def test_statements_answer_in_order_and_a_failure_stops_the_pipeline(healthy: Lab) -> None:
    engine = healthy.servers["aadc01"].engine
    commands = (
        CommandCall("# entra-standby-probe: machine\n", True),
        CommandCall("Write-Output", False, {"InputObject": "between"}),
        CommandCall("# entra-standby-probe: version\n", True),
    )
    result = engine.invoke(Invocation(commands=commands), threading.Event())
    assert result.failure is None and len(result.outputs) == 3
    assert json.loads(result.outputs[0])["probe"] == "machine" and result.outputs[1] == "between"
    assert json.loads(result.outputs[2])["probe"] == "version"
    failing = engine.invoke(
        Invocation(commands=(commands[0], CommandCall("Nope-Thing", False), commands[2])), threading.Event()
    )
    assert (
        failing.failure is not None and failing.failure.target == "Nope-Thing" and len(failing.outputs) == 1
    )


def test_one_line_scripts_and_bare_cmdlets(healthy: Lab) -> None:
    engine = healthy.servers["aadc02"].engine
    scheduler = run_script(engine, "Get-ADSyncScheduler").outputs[0]
    assert scheduler["StagingModeEnabled"] is True and scheduler["PurgeRunHistoryInterval"] == "7.00:00:00"
    assert run_script(engine, "Write-Output 'a b'; Write-Output 42").outputs == ["a b", 42]


def test_start_sleep_honours_cancel(healthy: Lab) -> None:
    engine = healthy.servers["aadc01"].engine
    cancel = threading.Event()
    cancel.set()
    began = time.monotonic()
    result = engine.invoke(Invocation(commands=(CommandCall("Start-Sleep", False, {"Seconds": 30}),)), cancel)
    assert result.failure is None and time.monotonic() - began < 5
    short = time.monotonic()
    run_cmdlet(engine, "Start-Sleep", Milliseconds=200)
    assert time.monotonic() - short >= 0.18


def test_set_staging_and_sync_cycle_actions(healthy: Lab) -> None:
    standby = healthy.servers["aadc02"].engine
    missing = run_script(standby, "# entra-standby-action: set-staging\n")
    assert missing.failure is not None and "Enabled" in missing.failure.message
    disabled = action(standby, "set-sync-cycle", Enabled=False)
    assert disabled["action"] == "set-sync-cycle" and disabled["data"]["sync_cycle_enabled"] is False
    unstaged = action(standby, "set-staging", Enabled=False)
    assert unstaged["ok"] is True and unstaged["data"]["staging_mode_enabled"] is False
    assert healthy.staging_log[-1].server == "aadc02" and healthy.staging_log[-1].staging_enabled is False
    assert healthy.max_unstaged_at_once() == 2  # the active was never staged first


def test_standby_drifted_shows_every_drift() -> None:
    with Lab(f"{SCENARIOS}/standby-drifted.yml", serve=False) as lab:
        active, standby = lab.servers["aadc01"].engine, lab.servers["aadc02"].engine
        values = {(v["path"], v["name"]): v["value"] for v in probe_data(standby, "tls")["values"]}
        netfx = "HKLM:\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319"
        client = "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.2"
        client += "\\Client"
        assert values[(netfx, "SchUseStrongCrypto")] is None and values[(client, "DisabledByDefault")] == 1
        assert sum(1 for v in values.values() if v is None) == 1
        assert probe_data(standby, "tls")["dotnet_release"] < 461808
        assert probe_data(standby, "version")["product_version"] == "2.5.79.0"
        assert probe_data(active, "version")["product_version"] == "2.5.190.0"
        os_data = probe_data(standby, "os")
        assert os_data["reboot"]["cbs_reboot_pending"] is True
        ok_updates = [u for u in os_data["updates"] if u["result_code"] == 2]
        newest_ok = max(datetime.fromisoformat(u["date"].replace("0Z", "+00:00")) for u in ok_updates)
        assert datetime.now(UTC) - newest_ok > timedelta(days=45)
        imports = [
            r
            for r in probe_data(standby, "run-history")["runs"]
            if r["connector"] == "contoso.com" and r["profile"] == "Delta Import"
        ]
        age = datetime.now(UTC) - datetime.fromisoformat(imports[0]["start"].replace("0Z", "+00:00"))
        assert timedelta(hours=2.9) < age < timedelta(hours=3.1)
        granted = {
            a["object_type"]
            for a in probe_data(standby, "connectors")["connectors"][0]["permissions"][0]["aces"]
        }
        assert RIGHTS["reset_password"].object_type not in granted
        assert RIGHTS["replicating_directory_changes_all"].object_type not in granted
        assert RIGHTS["replicating_directory_changes"].object_type in granted
        config_a, config_s = probe_data(active, "config"), probe_data(standby, "config")
        assert config_a["connectors"][0]["partitions"] != config_s["connectors"][0]["partitions"]
        disabled = {r["name"] for r in config_s["rules"] if r["disabled"]}
        assert disabled == {"Custom - In from AD - User extensionAttribute1"}
        entra = [
            p for p in probe_data(standby, "pending-exports")["connectors"] if p["connector"].endswith("AAD")
        ]
        assert entra[0]["deletes"] == 1200 > config_s["deletion_threshold"]["threshold"]
        machine_a, machine_s = probe_data(active, "machine"), probe_data(standby, "machine")
        assert machine_a["sync_machine_identifier"] == machine_s["sync_machine_identifier"]
        assert machine_s["adsynctools_versions"] == []


REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "entra_standby" / "probes").glob("*.ps1")) + sorted(
    (REPO / "entra_standby" / "actions").glob("*.ps1")
)


_ACTION_CALLS: dict[str, tuple[set[str], dict[str, Any]]] = {
    "start-sync-cycle": ({"policytype"}, {}),
    "write-canary": ({"userprincipalname", "attribute", "value"},
                     {"UserPrincipalName": "canary@contoso.com", "Attribute": "extensionAttribute1",
                      "Value": "x"}),
}


def _param_names(text: str) -> set[str]:
    block = re.search(r"^param\((.*?)^\)", text, re.S | re.M) or re.search(r"^param\((.*?)\)", text, re.M)
    return {m.lower() for m in re.findall(r"\$(\w+)", block.group(1))} if block else set()


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scripts_are_understood(healthy: Lab, path: Path) -> None:
    """The lab recognises every shipped script by its marker and accepts exactly its param() names."""
    text = path.read_text(encoding="utf-8-sig")
    kind = "action" if path.parent.name == "actions" else "probe"
    assert text.splitlines()[0] == f"# entra-standby-{kind}: {path.stem}"
    accepted = set(PROBE_PARAMETERS.get(path.stem, frozenset()))
    params: dict[str, Any] = {}
    if kind == "action":
        accepted, params = _ACTION_CALLS.get(path.stem, ({"enabled"}, {"Enabled": True}))
    assert _param_names(text) == accepted
    engine = healthy.servers["aadc02"].engine
    # Sent as a client sends it alone: the catalogue's text, helpers filled in (a script whose helpers
    # region is empty runs only after the helpers statement of a batch).
    sent = (load_action if kind == "action" else load_probe)(path.stem).text
    result = run_script(engine, sent, **params)
    assert result.failure is None and json.loads(result.outputs[0])["ok"] is True
    engine.cycle.join(10)


def test_positional_arguments_bind_in_order(healthy: Lab) -> None:
    engine = healthy.servers["aadc01"].engine
    assert len(probe_data(engine, "run-history", **{"@0": 4})["runs"]) == 4
    assert run_cmdlet(engine, "Write-Output", **{"@0": "x"}).outputs == ["x"]
    extra = run_script(engine, "# entra-standby-probe: tls\n", **{"@0": 1})
    assert extra.failure is not None and "positional parameter" in extra.failure.message
