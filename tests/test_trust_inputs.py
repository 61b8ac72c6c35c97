"""Issue 12: hostile input matrices, in process and fast. Each case must be refused with ONE line that names
the file (and the key or line) and a fix, without a traceback, without echoing a secret, and quickly.

The counts of each matrix are printed (run with ``-s`` or see the closing note) and asserted to stay at
least the size the issue asks for.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from spine_helpers import SCENARIOS

from entra_standby.cloud.config import CloudConfig
from entra_standby.cloud.gather import _graph_time
from entra_standby.errors import CloudError, InventoryError, ScenarioError
from entra_standby.gather import parse_outputs
from entra_standby.inventory import InsecureSettingWarning, load_inventory
from entra_standby.lab.scenario import load_scenario

PASSWORD = "Tr0ub4dor&3-zz"  # planted in the environment; must never appear in any message
ENV = "ESB_TRUST_PASSWORD"

GOOD = """\
defaults:
  connection:
    username: CONTOSO\\svc-audit
    password_env: ESB_TRUST_PASSWORD
pairs:
  - name: contoso-prod
    servers:
      - {host: aadc01.contoso.com, role: active}
      - {host: aadc02.contoso.com, role: standby}
"""


def _with_conn(line: str) -> str:
    return GOOD.replace("    username:", f"    {line}\n    username:")


def _with_threshold(line: str) -> str:
    return GOOD.replace("pairs:", f"  thresholds:\n    {line}\npairs:")


def _bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n" + GOOD


CLOUD = """\
    cloud:
      tenant_id: 7d3f5a1e-2c4b-4e8f-9a6d-1b2c3d4e5f60
      client_id: 3f1c2b7a-8e9d-4c5b-a6f7-0e1d2c3b4a59
"""

# (id, file content (str: UTF-8 text, bytes: as is), fragments the one line must contain)
INVENTORIES: list[tuple[str, str | bytes, tuple[str, ...]]] = [
    # duplicate keys (item 2)
    ("dup-pairs", GOOD + "pairs:\n  - name: other\n",
     ("duplicate key 'pairs'", "line 10", "first at line 5")),
    ("dup-role", GOOD.replace("{host: aadc01.contoso.com, role: active}",
                              "{host: aadc01.contoso.com, role: active, role: standby}"),
     ("duplicate key 'role'",)),
    ("dup-defaults", "defaults: {}\n" + GOOD, ("duplicate key 'defaults'",)),
    ("dup-connection-key", _with_conn("username: other"), ("duplicate key 'username'",)),
    ("dup-name", GOOD.replace("  - name: contoso-prod", "  - name: contoso-prod\n    name: x"),
     ("duplicate key 'name'",)),
    ("dup-threshold", _with_threshold("max_pending_adds: 1\n    max_pending_adds: 2"),
     ("duplicate key 'max_pending_adds'",)),
    ("non-text-key", GOOD.replace("pairs:", "1: x\npairs:"), ("key 1 is not text", "quote")),
    ("bool-key", GOOD.replace("pairs:", "yes: x\npairs:"), ("key yes is not text",)),
    # alias bombs, cycles, depth, size (items 5, 6)
    ("alias-bomb", _bomb(), ("alias bomb",)),
    ("alias-bomb-in-key", _bomb().replace("pairs:", "pairs: *a8\nxpairs:"), ("alias bomb",)),
    ("alias-cycle", "x: &x [1, *x]\n" + GOOD, ("cycle",)),
    ("deep-flow", "[" * 20000 + "]" * 20000, ("nested more than 64 levels",)),
    ("deep-block", "".join("  " * i + "k:\n" for i in range(100)), ("nested more than 64 levels",)),
    ("deep-pairs", GOOD.replace("  - name: contoso-prod", "  - " + "[" * 100 + "]" * 100 + "\n  - name: c"),
     ("nested more than 64 levels",)),
    ("undefined-alias", GOOD.replace("role: active", "role: *nothing"), ("not valid YAML",)),
    # encodings (item 6)
    ("utf16-le-bom", GOOD.encode("utf-16"), ("UTF-16", "save it as UTF-8")),
    ("utf16-be-bom", b"\xfe\xff" + GOOD.encode("utf-16-be"), ("UTF-16",)),
    ("utf32-bom", GOOD.encode("utf-32"), ("UTF-32",)),
    ("latin1", GOOD.replace("contoso-prod", "caf\u00e9").encode("latin-1"),
     ("not valid UTF-8", "byte 0xe9", "line 6")),
    ("nul-bytes", GOOD.replace("contoso-prod", "a\x00b"), ("NUL",)),
    ("binary", bytes(range(256)) * 4, ("UTF-8",)),
    ("bad-yaml-tab", GOOD.replace("  - name", "\t- name"), ("not valid YAML", "line 6")),
    ("yaml-python-tag", GOOD.replace("contoso-prod", "!!python/object:os.system x"), ("not valid YAML",)),
    ("top-level-list", "- a\n- b\n", ("expected the inventory",)),
    ("top-level-text", "hello\n", ("expected the inventory",)),
    # thresholds at load (item 7)
    ("threshold-negative", _with_threshold("max_pending_deletes: -1"), ("max_pending_deletes", ">= 0")),
    ("threshold-fraction", _with_threshold("max_pending_adds: 2.5"), ("max_pending_adds", "whole number")),
    ("threshold-word", _with_threshold("max_patch_age_days: soon"),
     ("max_patch_age_days", "expected a number")),
    ("threshold-banana", _with_threshold("stale_run_critical_days: banana"), ("stale_run_critical_days",)),
    ("threshold-nan", _with_threshold("max_run_age_minutes: .nan"), ("max_run_age_minutes", "out of range")),
    ("threshold-inf", _with_threshold("cloud_sync_max_age_minutes: .inf"), ("cloud_sync_max_age_minutes",)),
    ("threshold-neg-inf", _with_threshold("max_pending_updates: -.inf"), ("max_pending_updates",)),
    ("threshold-zero-minutes", _with_threshold("cloud_sync_max_age_minutes: 0"), ("> 0",)),
    ("threshold-huge", _with_threshold("min_dotnet_release: 1.0e+300"), ("out of range",)),
    ("threshold-bool-number", _with_threshold("max_pending_adds: true"), ("expected a number",)),
    ("threshold-version-word", _with_threshold("min_version: latest"), ("min_version", "2.5.79.0")),
    ("threshold-version-number", _with_threshold("min_version: 2.5"), ("min_version",)),
    ("threshold-bool-word", _with_threshold("allow_standby_newer_version: maybe"), ("true or false",)),
    ("threshold-pair-level",
     GOOD.replace("    servers:", "    thresholds: {max_pending_adds: -3}\n    servers:"),
     ("pairs[0].thresholds.max_pending_adds",)),
    # timeouts (item 8)
    ("read-timeout-inf", _with_conn("read_timeout: .inf"), ("read_timeout", "out of range")),
    ("read-timeout-nan", _with_conn("read_timeout: .nan"), ("read_timeout", "out of range")),
    ("connect-timeout-huge", _with_conn("connect_timeout: 1.0e+9"), ("connect_timeout", "at most 600")),
    ("operation-timeout-huge", _with_conn("operation_timeout: 1000000000"),
     ("operation_timeout", "out of range")),
    ("host-timeout-zero", _with_conn("host_timeout: 0"), ("host_timeout",)),
    ("host-timeout-text", _with_conn("host_timeout: long"), ("host_timeout", "expected a number")),
    ("probe-timeout-inf", _with_conn("probe_timeout: .inf"), ("probe_timeout",)),
    ("retries-huge", _with_conn("retries: 1000"), ("retries", "out of range")),
    # secrets typed into name keys (item 10)
    ("password-in-env-key", GOOD.replace(f"password_env: {ENV}", f"password_env: {PASSWORD}"),
     ("password_env", "not an environment variable name")),
    ("password-in-env-key-alnum", GOOD.replace(f"password_env: {ENV}", "password_env: hunter2secret"),
     ("password_env", "name is not shown")),
    ("number-in-env-key", GOOD.replace(f"password_env: {ENV}", "password_env: 12345678"),
     ("password_env", "expected a non-empty string")),
    # insecure combinations (item 11)
    ("basic-no-cert-check", _with_conn("auth: basic\n    cert_validation: false"),
     ("cert_validation", "any server that answers")),
    ("negotiate-http-no-encryption", _with_conn("ssl: false\n    message_encryption: never"),
     ("message_encryption", "in clear")),
    ("basic-over-http", _with_conn("auth: basic\n    ssl: false"), ("clear",)),
    ("inline-password-remote", GOOD.replace(f"password_env: {ENV}", f"password: {PASSWORD}"),
     ("only accepted for loopback",)),
    ("cloud-inline-secret-real-graph",
     GOOD + CLOUD + "      client_secret: lab-secret\n      authority_host: https://127.0.0.1:4443\n",
     ("graph_url", "not loopback")),
    ("cloud-secret-in-env-key", GOOD + CLOUD + f"      client_secret_env: {PASSWORD}\n",
     ("client_secret_env", "not an environment variable name")),
    ("cloud-timeout-nan", GOOD + CLOUD + f"      client_secret_env: {ENV}\n      timeout: .nan\n",
     ("timeout",)),
    ("cloud-timeout-inf", GOOD + CLOUD + f"      client_secret_env: {ENV}\n      timeout: .inf\n",
     ("timeout",)),
]

# Password files (item 4): (id, how to make the file in tmp_path, fragments)
PASSWORD_FILES: list[tuple[str, str, tuple[str, ...]]] = [
    ("fifo", "fifo", ("not a regular file",)),
    ("dev-zero", "/dev/zero", ("not a regular file",)),
    ("directory", "dir", ("is a directory",)),
    ("spaces-only", "text:   \t  \n", ("no password on its first line", "only spaces")),
    ("empty-first-line", "text:\nsecret-on-line-2\n", ("no password on its first line",)),
    ("empty", "text:", ("no password on its first line",)),
    ("non-utf8", "bytes:caf\xe9", ("not valid UTF-8", "line 1")),
    ("utf16", "utf16:pw", ("UTF-16",)),
    ("too-large", "large", ("more than the 65536",)),
    ("missing", "missing", ("not found",)),
]

def _server(line: str, server: str = "aadc01") -> str:
    return f"servers:\n  {server}:\n    {line}\n"


def _fault(line: str) -> str:
    return _server(f"faults: {{{line}}}")


# Scenarios: YAML-level refusals and shapes the schema did not foresee (lab serve, item 12)
SCENARIOS_BAD: list[tuple[str, str | bytes, tuple[str, ...]]] = [
    ("dup-servers", "servers: {}\nservers: {}\n", ("duplicate key 'servers'",)),
    ("dup-server", "servers:\n  aadc01: {}\n  aadc01: {}\n", ("duplicate key 'aadc01'",)),
    ("dup-fault", "servers:\n  aadc01:\n    faults: {down: true, down: false}\n", ("duplicate key 'down'",)),
    ("dup-tenant", "tenant: {}\ntenant: {}\n", ("duplicate key",)),
    ("dup-lab-key", "lab:\n  username: a\n  username: b\n", ("duplicate key 'username'",)),
    ("int-server-key", "servers: {1: {}}\n", ("key 1 is not text",)),
    ("bool-server-key", "servers: {on: {}}\n", ("key on is not text",)),
    ("null-key", "servers: {~: {}}\n", ("is not text",)),
    ("alias-bomb", _bomb().split("defaults:")[0], ("alias bomb",)),
    ("alias-cycle", "x: &x [*x]\n", ("cycle",)),
    ("deep", "[" * 20000 + "]" * 20000, ("nested more than",)),
    ("deep-block", "".join("  " * i + "k:\n" for i in range(100)), ("nested more than",)),
    ("latin1", "name: caf\xe9\n".encode("latin-1"), ("not valid UTF-8",)),
    ("utf16", "name: x\n".encode("utf-16"), ("UTF-16",)),
    ("nul", "name: a\x00\n", ("NUL",)),
    ("binary", bytes(range(256)), ("UTF-8",)),
    ("bad-yaml", "servers: [\n", ("not valid YAML",)),
    ("python-tag", "name: !!python/name:os.system\n", ("not valid YAML",)),
    ("top-level-list", "- 1\n", ("must be a mapping",)),
    ("unknown-top", "serverz: {}\n", ("serverz", "unknown key")),
    ("server-not-mapping", "servers:\n  aadc01: 5\n", ("servers.aadc01", "must be a mapping")),
    ("servers-list", "servers: [1, 2]\n", ("servers",)),
    ("bad-date", "tenant:\n  last_sync: '9999-99-99'\n", ("tenant.last_sync",)),
    ("date-type", "tenant:\n  last_sync: [1]\n", ("tenant.last_sync",)),
    ("fault-type", "servers:\n  aadc01:\n    faults: {down: maybe}\n", ("down",)),
    ("fault-unknown", "servers:\n  aadc01:\n    faults: {melt: true}\n", ("melt",)),
    ("name-list", "name: [a]\n", ("name",)),
    ("lab-not-mapping", "lab: 5\n", ("lab",)),
    ("tenant-not-mapping", "tenant: [1]\n", ("tenant",)),
    ("duplicate-address", "servers:\n  aadc02: {address: 127.0.0.11}\n", ("address",)),
    ("dup-merge-ok-then-dup", "a: &a {x: 1}\nb:\n  <<: *a\n  y: 1\n  y: 2\n", ("duplicate key 'y'",)),
    # the schema's values: each loaded before and failed only at `lab serve` (finding 12, lab half)
    ("latency-negative", _fault("latency_ms: -5"), ("servers.aadc01.faults.latency_ms", "from 0 to 60000")),
    ("latency-huge", _fault("latency_ms: 100000000"), ("latency_ms", "out of range")),
    ("latency-float", _fault("latency_ms: 2.5"), ("latency_ms", "an integer")),
    ("address-localhost", _server("address: localhost"), ("servers.aadc01.address", "not an IPv4 address")),
    ("address-network", _server("address: 10.0.0.5"), ("servers.aadc01.address", "not a loopback")),
    ("address-v6", _server("address: '::1'"), ("address", "not an IPv4 address")),
    ("address-out-of-range", _server("address: 127.0.0.256"), ("address", "not an IPv4 address")),
    ("address-number", _server("address: 2130706433"), ("address", "must be a string")),
    ("servers-250", "servers:\n" + "".join(f"  s{i}: {{}}\n" for i in range(250)),
     ("servers", "at most 200")),
    ("server-name-spaces", "servers:\n  'a b': {}\n", ("server name",)),
    ("server-name-path", "servers:\n  ../../etc: {}\n", ("server name",)),
    ("server-name-newline", "servers:\n  \"a\\nb\": {}\n", ("server name",)),
    ("date-year-9999", _server("run_history: {last_cycle: '9999-12-31T23:59:59Z'}"),
     ("servers.aadc01.run_history.last_cycle", "out of range")),
    ("date-year-1", "tenant:\n  last_sync: '0001-01-01T00:00:00Z'\n", ("tenant.last_sync", "out of range")),
    ("date-1999", _server("os: {last_boot: '1999-12-31T23:59:59Z'}"), ("os.last_boot", "out of range")),
    ("date-relative-huge", "tenant:\n  last_password_sync: -999999999d\n",
     ("tenant.last_password_sync", "out of range")),
    ("date-unquoted-date", _server("os: {last_boot: 2026-01-01}"), ("os.last_boot", "must be a time")),
    ("date-hotfix", _server("os: {hotfixes: [{id: KB1, installed_on: '+100000d'}]}"),
     ("hotfixes[0].installed_on", "out of range")),
    ("cycle-duration-negative", "lab:\n  cycle_duration_s: -1\n", ("lab.cycle_duration_s", "from 0 to 3600")),
    ("cycle-duration-nan", "lab:\n  cycle_duration_s: .nan\n", ("lab.cycle_duration_s", "out of range")),
    ("auto-cycle-zero", "lab:\n  auto_cycle_interval_s: 0\n", ("auto_cycle_interval_s",)),
    ("auto-cycle-inf", "lab:\n  auto_cycle_interval_s: .inf\n", ("auto_cycle_interval_s",)),
    ("utc-offset-huge", _server("utc_offset_minutes: 99999999"), ("utc_offset_minutes", "from -840 to 840")),
    ("cycles-million", _server("run_history: {cycles: 1000000}"), ("run_history.cycles", "from 0 to 1000")),
    ("step-negative", _server("run_history: {step_seconds: -1}"), ("step_seconds",)),
    ("interval-negative", "tenant:\n  scheduler: {allowed_interval_s: -1800}\n",
     ("tenant.scheduler.allowed_interval_s",)),
    ("interval-huge", "tenant:\n  scheduler: {customized_interval_s: 1.0e+300}\n",
     ("customized_interval_s", "out of range")),
    ("pending-negative", _server("pending_exports: {'contoso.com': {adds: -1}}"), ("adds", "from 0")),
    ("percentage-over-100", _server("deletion_threshold: {percentage: 101}"),
     ("percentage", "from 0 to 100")),
    ("int-bigger-than-int64", _server("os: {build: 0x" + "f" * 5000 + "}"),
     ("os.build", "thousands of digits", "out of range")),
    ("int-5000-digits", _server("os: {build: " + "9" * 5000 + "}"), ("line 3", "cannot be read as int")),
    ("date-unquoted-not-a-day", _server("os: {last_boot: 2026-02-30}"), ("line 3", "day is out of range")),
    ("bad-explicit-tag", _server("staging: !!bool maybe"), ("line 3", "cannot be read as bool")),
    ("dotnet-negative", _server("dotnet_release: -528040"), ("dotnet_release",)),
    ("run-duration-nan", _server("run_history: {runs: [{connector: x, profile: Delta Import, result: success,"
                                 " start: -1h, duration_s: .nan, complete: true, run_history_id: r}]}"),
     ("duration_s", "out of range")),
    ("type-huge-list-not-dumped", "name: [" + ", ".join(["x"] * 5000) + "]\n", ("name", "...")),
]

# Probe outputs, per fact kind (item 14 and the probe matrix)
_ENVELOPE = {"schema": 1, "probe": "{probe}", "ok": True}


def _probe_cases() -> list[tuple[str, str, str, tuple[str, ...]]]:
    cases: list[tuple[str, str, str, tuple[str, ...]]] = []
    from entra_standby.probes import PROBE_NAMES

    for probe in PROBE_NAMES:
        cases.append((f"{probe}-duplicate-key", probe,
                      '{"schema": 1, "probe": "' + probe + '", "ok": true, "ok": false, "data": {}}',
                      ("key 'ok' twice",)))
        cases.append((f"{probe}-not-json", probe, "<html>not json</html>", (probe,)))
        cases.append((f"{probe}-empty", probe, "", (probe,)))
        cases.append((f"{probe}-array", probe, "[1, 2, 3]", (probe,)))
        cases.append((f"{probe}-deep", probe, "[" * 5000 + "]" * 5000, (probe,)))
    cases.append(("scheduler-staging-twice", "scheduler",
                  '{"schema": 1, "probe": "scheduler", "ok": true, "data": '
                  '{"staging_mode_enabled": true, "staging_mode_enabled": false}}',
                  ("key 'staging_mode_enabled' twice",)))
    return cases


PROBE_OUTPUTS = _probe_cases()


def _write(tmp_path: Path, content: str | bytes, name: str = "inv.yml") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _assert_one_line(message: str, path: Path, fragments: tuple[str, ...]) -> None:
    assert "\n" not in message and "Traceback" not in message, message
    assert message.startswith(f"{path}"), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert PASSWORD not in message
    assert base64.b64encode(PASSWORD.encode()).decode() not in message
    assert len(message) < 600, message  # nothing expanded or dumped into it


@pytest.fixture(autouse=True)
def _secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, PASSWORD)
    monkeypatch.setenv("hunter2secret", "")  # a lower-case name (could be a secret): never echoed


def test_matrix_sizes_meet_the_issue() -> None:
    sizes = {"inventories": len(INVENTORIES) + len(PASSWORD_FILES), "scenarios": len(SCENARIOS_BAD),
             "probe outputs": len(PROBE_OUTPUTS)}
    print(f"hostile matrices: {sizes}")
    assert sizes["inventories"] >= 60 and sizes["scenarios"] >= 30 and sizes["probe outputs"] >= 20


@pytest.mark.parametrize(("content", "fragments"), [pytest.param(c, f, id=i) for i, c, f in INVENTORIES])
def test_hostile_inventory_is_one_line(tmp_path: Path, content: str | bytes,
                                       fragments: tuple[str, ...]) -> None:
    path = _write(tmp_path, content)
    t0 = time.monotonic()
    with pytest.raises(InventoryError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureSettingWarning)
        load_inventory(path)
    assert time.monotonic() - t0 < 10  # cheap: nothing expanded (generous bound for a loaded machine)
    _assert_one_line(str(info.value), path, fragments)


def _password_file(tmp_path: Path, how: str) -> str:
    if how == "fifo":
        os.mkfifo(tmp_path / "pw.fifo")
        return "pw.fifo"
    if how == "dir":
        (tmp_path / "pwdir").mkdir()
        return "pwdir"
    if how == "large":
        (tmp_path / "pw.txt").write_bytes(b"x" * 70000)
        return "pw.txt"
    if how == "missing":
        return "nope.txt"
    if how.startswith("/"):
        return how
    kind, _, body = how.partition(":")
    data = {"text": body.encode(), "bytes": body.encode("latin-1"), "utf16": body.encode("utf-16")}[kind]
    (tmp_path / "pw.txt").write_bytes(data)
    return "pw.txt"


@pytest.mark.parametrize(("how", "fragments"), [pytest.param(h, f, id=i) for i, h, f in PASSWORD_FILES])
def test_hostile_password_file_is_one_line(tmp_path: Path, how: str, fragments: tuple[str, ...]) -> None:
    name = _password_file(tmp_path, how)
    path = _write(tmp_path, GOOD.replace(f"password_env: {ENV}", f"password_file: {name}"))
    t0 = time.monotonic()
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert time.monotonic() - t0 < 10  # a FIFO never blocks, /dev/zero is never read
    _assert_one_line(str(info.value), path, ("password_file", *fragments))
    assert "secret-on-line-2" not in str(info.value)


def test_password_file_uses_the_first_line_only(tmp_path: Path) -> None:
    (tmp_path / "pw.txt").write_text(f"{PASSWORD}\nsomething else\n", encoding="utf-8")
    text = GOOD.replace(f"password_env: {ENV}", "password_file: pw.txt")
    inventory = load_inventory(_write(tmp_path, text))
    password = inventory.pairs[0].servers[0].connection.password
    assert password is not None and password.reveal() == PASSWORD


def test_cert_validation_false_warns_naming_the_host(tmp_path: Path) -> None:
    path = _write(tmp_path, _with_conn("cert_validation: false"))
    with pytest.warns(InsecureSettingWarning) as record:
        inventory = load_inventory(path)
    for host in ("aadc01.contoso.com", "aadc02.contoso.com"):
        assert any(host in str(w.message) for w in record), host
    assert len(inventory.warnings) == 2 and all("cert_validation" in w for w in inventory.warnings)


def test_secure_inventory_loads_without_warnings(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", InsecureSettingWarning)
        inventory = load_inventory(_write(tmp_path, GOOD))
    assert inventory.warnings == () and len(inventory.pairs[0].servers) == 2


@pytest.mark.parametrize(("content", "fragments"), [pytest.param(c, f, id=i) for i, c, f in SCENARIOS_BAD])
def test_hostile_scenario_is_one_line(tmp_path: Path, content: str | bytes,
                                      fragments: tuple[str, ...]) -> None:
    path = _write(tmp_path, content, "scenario.yml")
    t0 = time.monotonic()
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert time.monotonic() - t0 < 10
    _assert_one_line(str(info.value), path, fragments)


def test_scenario_that_is_a_directory_or_fifo(tmp_path: Path) -> None:
    (tmp_path / "dir.yml").mkdir()
    os.mkfifo(tmp_path / "fifo.yml")
    for name, fragment in (("dir.yml", "is a directory"), ("fifo.yml", "not a regular file")):
        with pytest.raises(ScenarioError, match=fragment):
            load_scenario(tmp_path / name)


def test_every_shipped_scenario_still_loads() -> None:
    shipped = sorted(SCENARIOS.glob("*.yml"))
    assert len(shipped) >= 10
    for path in shipped:
        assert load_scenario(path).servers


@pytest.mark.parametrize(("probe", "raw", "fragments"),
                         [pytest.param(p, r, f, id=i) for i, p, r, f in PROBE_OUTPUTS])
def test_hostile_probe_output_errors_only_its_fact(probe: str, raw: str, fragments: tuple[str, ...]) -> None:
    values, errors = parse_outputs("aadc01", [probe], {probe: raw})
    assert probe not in values and set(errors) == {probe}
    message = errors[probe].message
    assert "\n" not in message and len(message) < 800, message
    for fragment in fragments:
        assert fragment in message, message


_CONFIG = CloudConfig(tenant_id="t", client_id="c", secret="s")


CLOUD_DATES: list[Any] = ["9999-12-31T23:59:59Z", "2999-01-01T00:00:00Z", "1601-01-01T00:00:00Z",
                          "1999-12-31T23:59:59Z", "+99999-01-01", "2026-13-01T00:00:00Z",
                          "x" * 10000, "nan", "", 1735689600, True, ["2026-01-01"]]


@pytest.mark.parametrize("value", CLOUD_DATES)
def test_implausible_cloud_date_is_refused(value: Any) -> None:
    with pytest.raises(CloudError) as info:
        _graph_time(value, "onPremisesLastSyncDateTime", _CONFIG)
    assert "onPremisesLastSyncDateTime" in str(info.value) and len(str(info.value)) < 400


def test_a_cloud_date_within_the_clock_skew_allowance_is_kept() -> None:
    soon = datetime.now(UTC) + timedelta(hours=2)
    parsed = _graph_time(soon.isoformat().replace("+00:00", "Z"), "x", _CONFIG)
    assert parsed is not None and abs((parsed - soon).total_seconds()) < 1


def test_pypsrp_tracebacks_stay_out_of_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    """pypsrp logs each failed request with log.exception; the remoting module keeps those records out."""
    import entra_standby.remoting  # noqa: F401  (configures the loggers on import)

    caplog.set_level(logging.DEBUG)
    try:
        raise ConnectionError("peer dropped")
    except ConnectionError:
        logging.getLogger("pypsrp.wsman").exception("ConnectionError during WSMan request - attempt 1")
    assert "Traceback" not in caplog.text and "peer dropped" not in caplog.text


def test_probe_json_with_unique_keys_still_parses() -> None:
    raw = json.dumps({"schema": 1, "probe": "nope", "ok": True, "data": {}})
    _, errors = parse_outputs("aadc01", ["service"], {"service": raw})
    assert "service" in errors and "twice" not in errors["service"].message  # refused for its content only



LAB_SERVE_CASES = ["latency-negative", "address-localhost", "servers-250", "date-year-9999"]


@pytest.mark.parametrize("case", LAB_SERVE_CASES)
def test_lab_serve_refuses_a_bad_scenario_in_one_line(tmp_path: Path, case: str) -> None:
    """The front door: `entra-standby lab serve BAD.yml` exits 2 with one line, before any listener starts."""
    import subprocess
    import sys

    content, fragments = next((c, f) for i, c, f in SCENARIOS_BAD if i == case)
    path = _write(tmp_path, content, "bad.yml")
    done = subprocess.run([sys.executable, "-m", "entra_standby.cli", "lab", "serve", str(path),
                           "--write-inventory", str(tmp_path / "inv.yml")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr and done.stdout == "", done.stderr
    assert str(path) in lines[0] and all(f in lines[0] for f in fragments), lines[0]
    assert not (tmp_path / "inv.yml").exists()


def test_an_output_that_is_not_text_errors_only_its_probe() -> None:
    """A session returns text or a host error; anything else (a deserialised object) is that probe's error,
    never an exception that takes the host's other facts down."""
    scheduler = json.loads(json.dumps({"schema": 1, "probe": "scheduler", "ok": True, "data": {}}))
    values, errors = parse_outputs("aadc01", ["scheduler", "os"], {"scheduler": scheduler, "os": [1]})
    assert values == {} and set(errors) == {"scheduler", "os"}
    assert "expected one JSON string as output" in errors["scheduler"].message
