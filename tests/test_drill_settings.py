"""Drill settings in the inventory: defaults, key-by-key merge, maintenance windows, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zoneinfo
from datetime import time
from pathlib import Path

import pytest
import yaml

from entra_standby.drill.settings import (
    DRILL_DEFAULTS,
    DRILL_METHODS,
    DrillSettings,
    MaintenanceWindow,
    require_method,
)
from entra_standby.errors import DrillError, InventoryError
from entra_standby.inventory import inventory_from_dict, load_inventory, with_lab_pairs

ROOT = Path(__file__).resolve().parents[1]

BASE = """\
defaults:
  connection: {{username: CONTOSO\\svc, password_env: ESB_DRILL_PW}}
{defaults}
pairs:
  - name: contoso-prod
    servers:
      - {{host: aadc01.contoso.com, role: active}}
      - {{host: aadc02.contoso.com, role: standby}}
{pair}
"""


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESB_DRILL_PW", "not-a-real-password")
    monkeypatch.setenv("ENTRA_AUDIT_PASSWORD", "not-a-real-password")


def load(tmp_path: Path, *, defaults: str = "", pair: str = "") -> DrillSettings:
    text = BASE.format(defaults=textwrap.indent(textwrap.dedent(defaults), "  "),
                       pair=textwrap.indent(textwrap.dedent(pair), "    "))
    path = tmp_path / "inv.yml"
    path.write_text(text, encoding="utf-8")
    (entry,) = load_inventory(path).pairs
    return entry.drill


def error_line(tmp_path: Path, *, defaults: str = "", pair: str = "") -> str:
    with pytest.raises(InventoryError) as info:
        load(tmp_path, defaults=defaults, pair=pair)
    line = str(info.value)
    assert "\n" not in line and "(fix: " in line, line
    assert line.startswith(f"{tmp_path / 'inv.yml'}: "), line
    return line


# --- defaults and merging --------------------------------------------------------------------------------


def test_no_drill_block_gives_documented_defaults_and_no_method(tmp_path: Path) -> None:
    drill = load(tmp_path)
    assert drill == DrillSettings()
    assert drill.method is None  # no default method, on purpose
    assert (drill.hold_s, drill.poll_interval_s, drill.idle_timeout_s) == (300, 5, 900)
    assert (drill.export_timeout_s, drill.cloud_timeout_s, drill.operator_timeout_s) == (1800, 1800, 1800)
    assert drill.canary_attribute == "extensionAttribute15"
    assert drill.maintenance_windows == ()


def test_pair_overrides_defaults_key_by_key(tmp_path: Path) -> None:
    drill = load(tmp_path,
                 defaults="drill: {method: wizard, hold: 60, poll_interval: 2}\n",
                 pair="drill: {method: global-settings, poll_interval: 0.5}\n")
    assert drill.method == "global-settings"  # pair wins
    assert drill.poll_interval_s == 0.5  # pair wins
    assert drill.hold_s == 60  # from defaults
    assert drill.idle_timeout_s == 900  # built-in default


def test_pair_null_method_clears_the_default_method(tmp_path: Path) -> None:
    drill = load(tmp_path, defaults="drill: {method: adsynctools}\n", pair="drill: {method: null}\n")
    assert drill.method is None


def test_windows_parse_and_pair_list_replaces_defaults(tmp_path: Path) -> None:
    defaults = """\
    maintenance_windows:
      - {days: [sat, Sunday], start: "02:00", end: "06:00", timezone: Europe/Berlin}
    """
    inherited = load(tmp_path, defaults=defaults)
    assert inherited.maintenance_windows == (
        MaintenanceWindow(days=(5, 6), start=time(2, 0), end=time(6, 0), timezone="Europe/Berlin"),)
    own = load(tmp_path, defaults=defaults, pair="""\
    maintenance_windows:
      - {days: [FRI], start: "22:30", end: "24:00", timezone: UTC}
    """)
    (window,) = own.maintenance_windows
    assert (window.days, window.start, window.end, window.timezone) == ((4,), time(22, 30), time(0, 0), "UTC")
    assert window.crosses_midnight and "(+1 day)" in window.describe()
    cleared = load(tmp_path, defaults=defaults, pair="maintenance_windows: []\n")
    assert cleared.maintenance_windows == ()


def test_lab_inventory_carries_drill_defaults_to_the_lab_pairs(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    scenario = ROOT / "fixtures" / "scenarios" / "healthy-pair.yml"
    path.write_text(f"lab: {scenario}\ndefaults:\n  drill: {{method: global-settings, hold: 1}}\n"
                    "  maintenance_windows:\n"
                    "    - {days: [mon], start: '00:00', end: '00:00', timezone: UTC}\n", encoding="utf-8")
    inventory = load_inventory(path)
    lab_dict = {"pairs": [{"name": "healthy-pair", "servers": [
        {"host": "127.0.0.11", "role": "active"}, {"host": "127.0.0.12", "role": "standby"}],
        "connection": {"username": "LAB\\auditor", "password": "lab-pw"}}]}
    (pair,) = with_lab_pairs(inventory, lab_dict).pairs
    assert (pair.drill.method, pair.drill.hold_s) == ("global-settings", 1.0)
    assert [w.days for w in pair.drill.maintenance_windows] == [(0,)]


def test_the_documented_example_lists_every_drill_key_with_its_default() -> None:
    example = ROOT / "inventory" / "example.yml"
    raw = yaml.safe_load(example.read_text(encoding="utf-8"))
    documented = raw["defaults"]["drill"]
    assert set(documented) == set(DRILL_DEFAULTS) - {"method"}
    assert documented == {k: v for k, v in DRILL_DEFAULTS.items() if k != "method"}
    text = example.read_text(encoding="utf-8")
    for method in DRILL_METHODS:  # the choices are explained next to the (commented) method key
        assert method in text
    (pair,) = load_inventory(example).pairs
    assert pair.drill.method is None
    assert pair.drill.maintenance_windows, "the example shows a maintenance window"


def test_require_method_refuses_and_explains_every_choice() -> None:
    with pytest.raises(DrillError) as info:
        require_method(DrillSettings(), "contoso-prod")
    line = str(info.value)
    assert "\n" not in line and "contoso-prod" in line and "no default" in line
    for method in DRILL_METHODS:
        assert method in line
    assert "supports" in line or "supported" in line  # the support status is part of the explanation
    assert require_method(DrillSettings(method="wizard"), "p") == "wizard"


# --- one-line errors -------------------------------------------------------------------------------------

WINDOW = "{days: [sat], start: \"02:00\", end: \"06:00\", timezone: Europe/Berlin}"

BAD: list[tuple[str, str, str, tuple[str, ...]]] = [
    # (case id, defaults text, pair text, fragments of the one error line)
    ("unknown-drill-key", "", "drill: {hodl: 5}\n", ("pairs[0].drill.hodl", "did you mean 'hold'")),
    ("method-typo", "drill: {method: global-setting}\n", "",
     ("defaults.drill.method", "did you mean 'global-settings'", "wizard", "adsynctools")),
    ("method-unknown", "", "drill: {method: powershell}\n",
     ("pairs[0].drill.method", "not a switch method", "wizard: ", "global-settings: ", "adsynctools: ")),
    ("method-not-text", "", "drill: {method: 3}\n", ("pairs[0].drill.method", "not a switch method")),
    ("hold-negative", "", "drill: {hold: -1}\n", ("pairs[0].drill.hold", "out of range", "at least 0")),
    ("hold-nan", "", "drill: {hold: .nan}\n", ("pairs[0].drill.hold", "not a finite number")),
    ("timeout-inf", "", "drill: {idle_timeout: .inf}\n", ("pairs[0].drill.idle_timeout", "not a finite")),
    ("timeout-huge", "", "drill: {export_timeout: 1000000}\n", ("export_timeout", "at most 86400")),
    ("timeout-zero", "", "drill: {cloud_timeout: 0}\n", ("cloud_timeout", "greater than 0")),
    ("poll-zero", "", "drill: {poll_interval: 0}\n", ("poll_interval", "greater than 0")),
    ("poll-too-long", "", "drill: {poll_interval: 301}\n", ("poll_interval", "at most 300")),
    ("timeout-string", "", "drill: {operator_timeout: '1800'}\n",
     ("operator_timeout", "expected a number of seconds", "text ('1800')")),
    ("timeout-bool", "", "drill: {hold: true}\n", ("pairs[0].drill.hold", "a boolean")),
    ("canary-attribute", "", "drill: {canary_attribute: extensionAttribute16}\n",
     ("canary_attribute", "extensionAttribute1 .. extensionAttribute15")),
    ("drill-not-mapping", "", "drill: wizard\n", ("pairs[0].drill", "expected a mapping")),
    ("windows-not-list", "maintenance_windows: " + WINDOW + "\n", "",
     ("defaults.maintenance_windows", "expected a list")),
    ("window-unknown-key", "", "maintenance_windows:\n  - {days: [sat], start: '02:00', end: '06:00', "
     "timezone: UTC, tz: UTC}\n", ("maintenance_windows[0].tz", "unknown key")),
    ("window-missing-end", "", "maintenance_windows:\n  - {days: [sat], start: '02:00', timezone: UTC}\n",
     ("pairs[0].maintenance_windows[0].end", "missing required key")),
    ("days-empty", "", "maintenance_windows:\n  - {days: [], start: '02:00', end: '06:00', timezone: UTC}\n",
     ("maintenance_windows[0].days", "empty")),
    ("days-duplicate", "",
     "maintenance_windows:\n  - {days: [sat, Saturday], start: '02:00', end: '06:00', timezone: UTC}\n",
     ("maintenance_windows[0].days[1]", "listed twice")),
    ("day-typo", "",
     "maintenance_windows:\n  - {days: [satur], start: '02:00', end: '06:00', timezone: UTC}\n",
     ("maintenance_windows[0].days[0]", "not a weekday", "did you mean 'saturday'")),
    ("days-not-list", "",
     "maintenance_windows:\n  - {days: sat, start: '02:00', end: '06:00', timezone: UTC}\n",
     ("maintenance_windows[0].days", "expected a list")),
    ("sexagesimal-start", "",
     "maintenance_windows:\n  - {days: [sat], start: 22:00, end: '06:00', timezone: UTC}\n",
     ("maintenance_windows[0].start", "number 1320", "base-60", 'start: "22:00"')),
    ("sexagesimal-end-midnight", "",
     "maintenance_windows:\n  - {days: [sat], start: '22:00', end: 24:00, timezone: UTC}\n",
     ("maintenance_windows[0].end", "number 1440", 'end: "24:00"')),
    ("time-out-of-range", "",
     "maintenance_windows:\n  - {days: [sat], start: '25:00', end: '06:00', timezone: UTC}\n",
     ("maintenance_windows[0].start", "not a time of day", "HH:MM")),
    ("start-24", "", "maintenance_windows:\n  - {days: [sat], start: '24:00', end: '06:00', timezone: UTC}\n",
     ("maintenance_windows[0].start", "not a time of day")),
    ("timezone-unknown", "",
     "maintenance_windows:\n  - {days: [sat], start: '02:00', end: '06:00', timezone: Europe/Berln}\n",
     ("maintenance_windows[0].timezone", "unknown time zone 'Europe/Berln'", "did you mean 'Europe/Berlin'")),
    ("timezone-directory", "",
     "maintenance_windows:\n  - {days: [sat], start: '02:00', end: '06:00', timezone: Europe}\n",
     ("maintenance_windows[0].timezone", "unknown time zone 'Europe'")),
    ("timezone-path", "",
     "maintenance_windows:\n  - {days: [sat], start: '02:00', end: '06:00', timezone: ../../etc/passwd}\n",
     ("maintenance_windows[0].timezone", "unknown time zone")),
    ("timezone-localtime", "",
     "maintenance_windows:\n  - {days: [sat], start: '02:00', end: '06:00', timezone: localtime}\n",
     ("maintenance_windows[0].timezone", "different zone on every machine")),
]


@pytest.mark.parametrize(("defaults", "pair", "fragments"),
                         [pytest.param(d, p, f, id=i) for i, d, p, f in BAD])
def test_bad_drill_settings_give_one_line(tmp_path: Path, defaults: str, pair: str,
                                          fragments: tuple[str, ...]) -> None:
    line = error_line(tmp_path, defaults=defaults, pair=pair)
    for fragment in fragments:
        assert fragment in line, line


def test_dict_inventory_validates_drill_too() -> None:
    raw = {"pairs": [{"name": "p", "drill": {"method": "wizzard"}, "servers": [
        {"host": "127.0.0.1", "role": "active", "connection": {"username": "u", "password": "x"}},
        {"host": "127.0.0.2", "role": "standby", "connection": {"username": "u", "password": "x"}}]}]}
    with pytest.raises(InventoryError, match=r"x\.yml: pairs\[0\]\.drill\.method: .*did you mean 'wizard'"):
        inventory_from_dict(raw, path="x.yml")


def test_window_rejects_bad_values_built_in_code() -> None:
    with pytest.raises(ValueError):
        MaintenanceWindow(days=(), start=time(1), end=time(2), timezone="UTC")
    with pytest.raises(ValueError):
        MaintenanceWindow(days=(7,), start=time(1), end=time(2), timezone="UTC")
    with pytest.raises(zoneinfo.ZoneInfoNotFoundError):
        MaintenanceWindow(days=(1,), start=time(1), end=time(2), timezone="Mars/Olympus")


def test_time_zones_resolve_without_a_system_zone_database(tmp_path: Path) -> None:
    # Machines without /usr/share/zoneinfo (Windows, slim containers) rely on the tzdata package.
    script = ("import zoneinfo; from entra_standby.drill.settings import parse_maintenance_windows\n"
              "assert zoneinfo.TZPATH == (sys_path,), zoneinfo.TZPATH\n"
              "(w,) = parse_maintenance_windows([{'days': ['sat'], 'start': '02:00', 'end': '06:00', "
              "'timezone': 'Europe/Berlin'}], path='inv.yml', key='k')\n"
              "print(w.zone.key)\n").replace("sys_path", repr(str(tmp_path)))
    env = {**os.environ, "PYTHONTZPATH": str(tmp_path)}  # an empty directory: no system zone files
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Europe/Berlin"
