"""Inventory loading and validation: typed settings, secrets, and one-line errors before any connection."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from spine_helpers import ROOT, run_checks

from entra_standby.errors import InventoryError
from entra_standby.inventory import Secret, inventory_from_dict, is_loopback, load_inventory, with_lab_pairs

PASSWORD = "S3cret-Pa55word!"  # planted in the environment; must never appear in any output

GOOD = """\
defaults:
  connection:
    username: CONTOSO\\svc-audit
    password_env: ESB_TEST_PASSWORD
pairs:
  - name: contoso-prod
    servers:
      - {host: aadc01.contoso.com, role: active}
      - {host: aadc02.contoso.com, role: standby, connection: {port: 15986}}
"""


def write(tmp_path: Path, text: str, name: str = "inv.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESB_TEST_PASSWORD", PASSWORD)


# --- valid inventories -----------------------------------------------------------------------------------


def test_good_inventory_merges_defaults_pair_and_server(tmp_path: Path, secret_env: None) -> None:
    inv = load_inventory(write(tmp_path, GOOD))
    (pair,) = inv.pairs
    assert pair.name == "contoso-prod"
    a, b = pair.servers
    assert (a.host, a.role, a.connection.effective_port) == ("aadc01.contoso.com", "active", 5986)
    assert (b.role, b.connection.effective_port) == ("standby", 15986)
    assert a.connection.username == "CONTOSO\\svc-audit"
    assert a.connection.password is not None and a.connection.password.reveal() == PASSWORD
    assert a.connection.operation_timeout < a.connection.read_timeout <= 10
    assert not inv.is_lab


def test_secrets_never_show_in_repr(tmp_path: Path, secret_env: None) -> None:
    inv = load_inventory(write(tmp_path, GOOD))
    assert PASSWORD not in repr(inv)
    assert PASSWORD not in str(inv.pairs[0].servers[0].connection)
    assert PASSWORD not in f"{Secret(PASSWORD)}"


def test_password_file_is_relative_to_the_inventory(tmp_path: Path) -> None:
    (tmp_path / "pw.txt").write_text(PASSWORD + "\n", encoding="utf-8")
    text = GOOD.replace("password_env: ESB_TEST_PASSWORD", "password_file: pw.txt")
    inv = load_inventory(write(tmp_path, text))
    password = inv.pairs[0].servers[0].connection.password
    assert password is not None and password.reveal() == PASSWORD


def test_inline_password_is_fine_on_loopback(tmp_path: Path) -> None:
    text = GOOD.replace("password_env: ESB_TEST_PASSWORD", "password: lab-only").replace(
        "aadc01.contoso.com", "127.0.0.11").replace("aadc02.contoso.com", "localhost")
    inv = load_inventory(write(tmp_path, text))
    assert [s.host for s in inv.pairs[0].servers] == ["127.0.0.11", "localhost"]


def test_ca_path_is_resolved_against_the_inventory(tmp_path: Path, secret_env: None) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    text = GOOD.replace("    username:", "    cert_validation: ca.pem\n    username:")
    inv = load_inventory(write(tmp_path, text))
    assert inv.pairs[0].servers[0].connection.cert_validation == str((tmp_path / "ca.pem").resolve())


def test_select_pairs_and_unknown_pair(tmp_path: Path, secret_env: None) -> None:
    inv = load_inventory(write(tmp_path, GOOD))
    assert inv.select(["contoso-prod"]).pairs == inv.pairs
    with pytest.raises(InventoryError, match=r"no pair named 'contoso-prd'.*did you mean 'contoso-prod'"):
        inv.select(["contoso-prd"])


def test_lab_inventory_takes_pairs_from_the_running_lab(tmp_path: Path) -> None:
    inv = load_inventory(ROOT / "inventory" / "lab.yml")
    assert inv.is_lab and inv.pairs == ()
    assert inv.lab_scenario == (ROOT / "fixtures" / "scenarios" / "healthy-pair.yml").resolve()
    lab_dict = {"pairs": [{"name": "healthy-pair", "servers": [
        {"host": "127.0.0.11", "role": "active", "connection": {"port": 40001}},
        {"host": "127.0.0.12", "role": "standby", "connection": {"port": 40002}}],
        "connection": {"ssl": True, "auth": "negotiate", "cert_validation": False,
                       "username": "LAB\\auditor", "password": "lab-pw"}}]}
    merged = with_lab_pairs(inv, lab_dict)
    assert merged.is_lab
    assert [s.connection.effective_port for s in merged.pairs[0].servers] == [40001, 40002]


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.12") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("aadc01.contoso.com") and not is_loopback("10.0.0.5")


def test_dict_errors_name_the_key_path() -> None:
    raw = {"pairs": [{"name": "p", "servers": [{"host": "h1", "role": "active", "conection": {}}]}]}
    with pytest.raises(InventoryError) as info:
        inventory_from_dict(raw, path="x.yml")
    assert str(info.value) == ("x.yml: pairs[0].servers[0].conection: unknown key 'conection' "
                               "(fix: did you mean 'connection'?)")


# --- malformed inventories: one line from pytest, no traceback, no secret --------------------------------

SERVERS = """\
    servers:
      - {host: aadc01.contoso.com, role: active}
      - {host: aadc02.contoso.com, role: standby}
"""

# (case id, inventory text or None for "file missing", expected fragments of the one error line)
MALFORMED: list[tuple[str, str | None, tuple[str, ...]]] = [
    ("unknown-top-key", GOOD.replace("pairs:", "pair:"), ("pair", "unknown key", "did you mean 'pairs'")),
    ("unknown-connection-key", GOOD.replace("{port: 15986}", "{prot: 15986}"),
     ("pairs[0].servers[1].connection.prot", "did you mean 'port'")),
    ("port-wrong-type", GOOD.replace("{port: 15986}", "{port: high}"),
     ("pairs[0].servers[1].connection.port", "expected a whole number")),
    ("port-out-of-range", GOOD.replace("{port: 15986}", "{port: 70000}"),
     ("pairs[0].servers[1].connection.port", "out of range")),
    ("ssl-not-bool", GOOD.replace("    username:", "    ssl: 'yes'\n    username:"),
     ("defaults.connection.ssl", "expected true or false")),
    ("auth-typo", GOOD.replace("    username:", "    auth: kerberoz\n    username:"),
     ("defaults.connection.auth", "did you mean 'kerberos'")),
    ("role-unknown", GOOD.replace("role: standby", "role: stanby"),
     ("pairs[0].servers[1].role", "did you mean 'standby'")),
    ("two-actives", GOOD.replace("role: standby", "role: active"),
     ("pairs[0].servers", "2 servers with role active")),
    ("duplicate-pair", GOOD + "  - name: contoso-prod\n" + SERVERS.replace("aadc0", "bbdc0"),
     ("pairs[1].name", "duplicate pair name 'contoso-prod'")),
    ("duplicate-host", GOOD + "  - name: fabrikam\n" + SERVERS,
     ("pairs[1].servers[0].host", "duplicate host 'aadc01.contoso.com'")),
    ("missing-env", GOOD.replace("ESB_TEST_PASSWORD", "ESB_NOT_SET_ANYWHERE"),
     ("defaults.connection.password_env", "ESB_NOT_SET_ANYWHERE is not set")),
    ("password-file-missing", GOOD.replace("password_env: ESB_TEST_PASSWORD", "password_file: nope.txt"),
     ("defaults.connection.password_file", "cannot be read")),
    ("inline-password-remote", GOOD.replace("password_env: ESB_TEST_PASSWORD", f"password: {PASSWORD}"),
     ("defaults.connection.password", "only accepted for loopback", "password_env")),
    ("two-password-sources",
     GOOD.replace("    password_env:", "    password_file: pw.txt\n    password_env:"),
     ("defaults.connection", "both password_env and password_file")),
    ("timeouts-inverted", GOOD.replace("    username:", "    operation_timeout: 20\n    username:"),
     ("operation_timeout", "must be below read_timeout")),
    ("bad-yaml", GOOD.replace("  - name: contoso-prod", "  - name: [contoso-prod"),
     ("not valid YAML", "line ")),
    ("pairs-not-a-list", "pairs: contoso-prod\n", ("pairs", "expected a list")),
    ("empty-file", "", ("pairs", "no pairs defined")),
    ("missing-host", GOOD.replace("{host: aadc01.contoso.com, role: active}", "{role: active}"),
     ("pairs[0].servers[0].host", "missing required key")),
    ("server-not-a-mapping", GOOD.replace("{host: aadc01.contoso.com, role: active}", "aadc01"),
     ("pairs[0].servers[0]", "expected a server")),
    ("lab-scenario-missing", "lab: ../nowhere/scenario.yml\n", ("lab", "not found")),
    ("ca-bundle-missing", GOOD.replace("    username:", "    cert_validation: certs/ca.pem\n    username:"),
     ("defaults.connection.cert_validation", "CA bundle 'certs/ca.pem' not found")),
    ("file-missing", None, ("file not found", "inventory/lab.yml")),
]


@pytest.mark.parametrize(("text", "fragments"), [pytest.param(t, f, id=i) for i, t, f in MALFORMED])
def test_malformed_inventory_gives_one_line(tmp_path: Path, text: str | None,
                                            fragments: tuple[str, ...]) -> None:
    path = tmp_path / "missing.yml" if text is None else write(tmp_path, text)
    result = run_checks("--inventory", str(path), env={"ESB_TEST_PASSWORD": PASSWORD})
    assert result.returncode == 4, result.output  # pytest's usage-error exit code: nothing ran
    assert "Traceback" not in result.output
    assert PASSWORD not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    line = lines[0]
    assert line.startswith(f"ERROR: {path}: "), line
    for fragment in fragments:
        assert fragment in line, line
    assert "(fix: " in line, line


def test_without_inventory_checks_say_how_to_try_the_tool() -> None:
    result = run_checks()
    assert result.returncode == 4, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "--inventory" in lines[0] and "inventory/lab.yml" in lines[0]
    assert "Traceback" not in result.output


def test_the_documented_example_loads_and_lists_every_threshold_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from entra_standby.inventory import load_inventory
    from entra_standby.rules.thresholds import DEFAULT_THRESHOLDS

    monkeypatch.setenv("ENTRA_AUDIT_PASSWORD", "not-a-real-password")
    inventory = load_inventory(str(Path(__file__).resolve().parents[1] / "inventory" / "example.yml"))
    assert [s.role for s in inventory.pairs[0].servers] == ["active", "standby"]
    assert inventory.pairs[0].thresholds == DEFAULT_THRESHOLDS
