"""Scenario files: every shipped one loads; a malformed one gives one clear error naming file and key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from entra_standby.errors import EntraStandbyError, ScenarioError
from entra_standby.lab.scenario import load_scenario
from entra_standby.lab.state import AD_CONNECTOR, CUSTOM_RULE, ENTRA_CONNECTOR, ServerState
from entra_standby.lab.timefmt import parse_time, ps_date

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"
SHIPPED = sorted(SCENARIO_DIR.glob("*.yml"))


def test_the_five_scenarios_ship() -> None:
    assert {p.stem for p in SHIPPED} >= {
        "healthy-pair",
        "split-brain",
        "standby-drifted",
        "active-down",
        "cloud-stale",
    }


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem and scenario.description
    assert set(scenario.servers) == {"aadc01", "aadc02"}
    roles = sorted(s["role"] for s in scenario.servers.values())
    assert roles == ["active", "standby"]


def test_scenarios_state_what_they_claim() -> None:
    assert load_scenario(SCENARIO_DIR / "split-brain.yml").servers["aadc02"]["staging"] is False
    assert load_scenario(SCENARIO_DIR / "active-down.yml").servers["aadc01"]["faults"]["down"] is True
    stale = load_scenario(SCENARIO_DIR / "cloud-stale.yml")
    assert stale.tenant["last_sync"] == "-6h"
    assert stale.servers["aadc01"]["run_history"]["results"] == {
        f"{ENTRA_CONNECTOR}/Export": "stopped-server-down"
    }


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        (
            "servers:\n  aadc02:\n    tls:\n      schannel_server_enabld: 0\n",
            "servers.aadc02.tls.schannel_server_enabld",
            "did you mean 'schannel_server_enabled'",
        ),
        ("servers:\n  aadc02:\n    stagin: true\n", "servers.aadc02.stagin", "did you mean 'staging'"),
        (
            "servers:\n  aadc01:\n    dotnet_release: lots\n",
            "servers.aadc01.dotnet_release",
            "must be an integer",
        ),
        ("servers:\n  aadc01:\n    staging: 'no'\n", "servers.aadc01.staging", "must be true or false"),
        ("tenant:\n  last_sync: yesterday\n", "tenant.last_sync", "is not a time"),
        (
            "servers:\n  aadc01:\n    os:\n      updates:\n        - {date: -3x, title: t, operation: 1, "
            "result_code: 2, hresult: 0}\n",
            "servers.aadc01.os.updates[0].date",
            "is not a time",
        ),
        (
            "servers:\n  aadc02:\n    faults:\n      malformed_output: [schedular]\n",
            "servers.aadc02.faults.malformed_output[0]",
            "did you mean 'scheduler'",
        ),
        (
            "servers:\n  aadc02:\n    faults:\n      stall: [Recieve]\n",
            "servers.aadc02.faults.stall[0]",
            "did you mean 'Receive'",
        ),
        ("server:\n  aadc01: {}\n", "server", "did you mean 'servers'"),
        (
            "servers:\n  aadc01:\n    connectors:\n      contoso.com:\n        revoked_rights: [reset]\n",
            "servers.aadc01.connectors.contoso.com.revoked_rights[0]",
            "is not one of",
        ),
        (
            "servers:\n  aadc01:\n    rules:\n      New rule: {precedence: 10}\n",
            "servers.aadc01.rules.New rule",
            "missing key(s): connector, direction",
        ),
        ("servers:\n  aadc03:\n    address: 127.0.0.11\n", "servers", "share address 127.0.0.11"),
    ],
)
def test_malformed_scenarios_name_file_and_key(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    error = caught.value
    assert isinstance(error, EntraStandbyError)
    assert (error.path, error.key) == (str(path), key)
    message = str(error)
    assert message.startswith(f"{path}: {key}: ") and fragment in message and "\n" not in message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "missing.yml")
    with pytest.raises(ScenarioError, match="line 3, column 4: not valid YAML"):
        load_scenario(_write(tmp_path, "servers:\n  aadc01: [a, b\n  x: 1\n"))
    with pytest.raises(ScenarioError, match="must be a mapping"):
        load_scenario(_write(tmp_path, "- a list\n"))


def test_merge_semantics() -> None:
    scenario = load_scenario(
        {
            "servers": {
                "aadc02": {
                    "connectors": {AD_CONNECTOR: {"account": {"enabled": False}}},
                    "rules": {
                        CUSTOM_RULE: None,
                        "New rule": {"connector": AD_CONNECTOR, "direction": "Inbound", "precedence": 20},
                    },
                    "adsynctools_versions": ["1.5.3"],
                    "os": {"reboot": {"wu_reboot_required": True}},
                },
                "aadc03": {"role": "standby"},
            },
        }
    )
    standby = scenario.servers["aadc02"]
    account = standby["connectors"][AD_CONNECTOR]["account"]
    assert account["enabled"] is False and account["found"] is True  # merged, not replaced
    assert CUSTOM_RULE not in standby["rules"] and standby["rules"]["New rule"]["disabled"] is False
    assert standby["adsynctools_versions"] == ["1.5.3"]
    assert standby["os"]["reboot"] == {
        **scenario.servers["aadc01"]["os"]["reboot"],
        "wu_reboot_required": True,
    }
    assert ENTRA_CONNECTOR in standby["connectors"]
    assert scenario.servers["aadc03"]["address"] == "127.0.0.13"
    assert scenario.servers["aadc01"]["rules"][CUSTOM_RULE]["disabled"] is False  # other servers untouched


def test_relative_times() -> None:
    start = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
    assert parse_time("now", start) == start
    assert parse_time("-25m", start) == start - timedelta(minutes=25)
    assert parse_time("+10m", start) == start + timedelta(minutes=10)
    assert parse_time("-3d", start) == start - timedelta(days=3)
    assert parse_time("-1.5h", start) == start - timedelta(minutes=90)
    assert parse_time("2026-11-01T00:00:00Z", start) == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="not a time"):
        parse_time("3 days ago", start)
    assert ps_date(datetime(2026, 11, 22, 3, 55, 54, 123456, tzinfo=UTC)) == "2026-11-22T03:55:54.1234560Z"


def test_unquoted_yaml_timestamps_are_utc_like_quoted_ones(tmp_path: Path) -> None:
    # YAML reads an unquoted timestamp as a datetime, naive when it has no offset; docs/scenarios.md says
    # such a time is UTC, the same as the quoted text form.
    path = tmp_path / "naive.yml"
    path.write_text(
        "servers:\n"
        "  aadc01: {os: {last_boot: 2026-11-20T08:00:00}}\n"
        "  aadc02: {os: {last_boot: '2026-11-20T08:00:00'}}\n",
        encoding="utf-8",
    )
    scenario = load_scenario(path)
    boots = {
        name: ServerState.from_spec(name, spec, scenario.start).os.last_boot
        for name, spec in scenario.servers.items()
    }
    assert boots == {name: datetime(2026, 11, 20, 8, 0, tzinfo=UTC) for name in ("aadc01", "aadc02")}
