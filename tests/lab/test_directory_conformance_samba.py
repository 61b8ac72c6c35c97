"""The lab's real directory (``SambaDirectory``): a Samba AD DC seeded from the scenario gives the same
connector-account verdicts as the lab without a directory (the probe's in-session reads).

Each scenario starts one lab and one DC (provisioned once per domain into a cache, seeded per start) and
is audited twice in-process: without a ``directory:`` block and with one pointing at the DC, read by a
plain user with the tool's own LDAP client. ``connector_account_verdicts(scenario, mode)`` is the reusable
comparison; the embedded stand-in's branch has the same function for ``mode="embedded"``.
Needs root and Debian's samba packages: skipped without them, failed under CI (as tests/sambadc.py does).
"""

from __future__ import annotations

import contextlib
import fcntl
import inspect
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from spine_helpers import SCENARIOS, junit_cases, run_checks

from entra_standby.directory.facts import DirectoryFacts
from entra_standby.errors import LabError
from entra_standby.gather import RunFacts, gather
from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab, samba_dc
from entra_standby.lab.directory_model import DirectoryModel, directory_model
from entra_standby.lab.lab import write_private_inventory
from entra_standby.lab.samba_directory import LabHost, Login, SambaDirectory, for_lab
from entra_standby.results import evaluate_pair

# Account states no shipped scenario has: a disabled active account, a standby account that must change its
# password (with "never expires" set, as Entra Connect's accounts have it).
STATES: dict[str, Any] = {
    "name": "connector-account-states", "description": "connector accounts disabled / password expired",
    "servers": {"aadc01": {"connectors": {"contoso.com": {"account": {"enabled": False}}}},
                "aadc02": {"connectors": {"contoso.com": {"account": {"password_expired": True}}}}}}
SCENARIO_NAMES = ("healthy-pair", "break-connector-account", "connector-account-misscoped-aces",
                  "standby-drifted", "connector-account-states")
MODES = ("none", "samba")
REPL = "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2"
RESET = "00299570-246d-11d0-a768-00aa006e0529"

Verdicts = dict[str, tuple[str, tuple[tuple[str, str], ...]]]  # server -> (outcome, ((severity, message)))


# The lab without a directory of its own: this module starts the DC next to it. (Once Lab takes
# directory=embedded|samba|none, from the embedded stand-in's branch, its default would add a block.)
BARE_LAB: dict[str, Any] = (
    {"directory": "none"} if "directory" in inspect.signature(Lab.__init__).parameters else {})


def alias_gone(address: str) -> bool | None:
    """lo no longer carries ``address``: checked under the address's lock, which a DC holds while it runs
    (another test process may take the address the moment it is free: then None, nothing to check)."""
    with open(Path(tempfile.gettempdir()) / f"entra-standby-samba-{address}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released by stop()
        except BlockingIOError:
            return None
        try:
            shown = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True,
                                   check=True).stdout
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return f"inet {address}/" not in shown


def require_samba() -> None:
    why = samba_dc.unavailable()
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the real-directory tests: {why} (scripts/install-samba)")
    pytest.skip(why)


def scenario_dict(scenario: str) -> dict[str, Any]:
    if scenario == STATES["name"]:
        return yaml.safe_load(yaml.safe_dump(STATES))  # type: ignore[no-any-return]
    raw: dict[str, Any] = yaml.safe_load((SCENARIOS / f"{scenario}.yml").read_text(encoding="utf-8"))
    return raw


@dataclass
class Audited:
    run: RunFacts
    inventory: dict[str, Any]
    model: DirectoryModel
    directory: SambaDirectory | None


@contextlib.contextmanager
def audited(scenario: str, mode: str, workdir: Path) -> Iterator[Audited]:
    """The scenario's lab serving, and (mode samba) its DC running, gathered once for connector-account."""
    raw = scenario_dict(scenario)
    with Lab(raw, cloud=False, **BARE_LAB) as lab:
        model = directory_model([s.state for s in lab.servers.values()])
        inventory = lab.inventory_dict()
        if mode == "none":
            yield Audited(_gather(inventory, workdir), inventory, model, None)
            return
        if mode != "samba":
            raise ValueError(f"unknown directory mode {mode!r} (this branch has none and samba)")
        directory = for_lab(lab)  # what Lab(directory="samba") starts: on a free 127.0.0.50-69
        assert directory.model == model
        with directory:
            inventory["pairs"][0]["directory"] = directory.inventory_block()
            yield Audited(_gather(inventory, workdir), inventory, model, directory)


def _gather(inventory: dict[str, Any], workdir: Path) -> RunFacts:
    workdir.mkdir(parents=True, exist_ok=True)
    return gather(inventory_from_dict(inventory, path=workdir / "inventory.yml"),
                  probes=("connectors", "config"))


def verdicts_of(run: RunFacts) -> Verdicts:
    (pair,) = run.pairs
    out: Verdicts = {}
    for result in evaluate_pair(pair, ["connector-account"]):
        server = {"127.0.0.11": "aadc01", "127.0.0.12": "aadc02"}.get(result.host or "", result.host or "")
        out[server] = (str(result.outcome), tuple(sorted((str(f.severity), f.message)
                                                         for f in result.findings)))
    return out


def connector_account_verdicts(scenario: str, directory_mode: str, workdir: Path) -> Verdicts:
    """connector-account's outcome and findings per server for ``scenario`` served by the lab with the
    given directory ("none": the probe's in-session reads; "samba": a seeded Samba DC read over LDAP)."""
    if directory_mode == "samba":
        require_samba()
    with audited(scenario, directory_mode, workdir) as done:
        return verdicts_of(done.run)


# --- one lab + DC per scenario, shared by the tests of that scenario --------------------------------------


@dataclass
class Both:
    none: Verdicts
    samba: Verdicts
    model: DirectoryModel
    facts: DirectoryFacts
    pid: int  # the DC's, stopped by now
    run_dir: Path
    second_start: str  # what a second DC on the same address said while this one ran
    address: str
    alias_gone: bool | None  # right after stop()


@pytest.fixture(scope="module")
def runs() -> dict[str, Both]:
    """Scenario -> its two audits, made by the first test that asks (one lab and one DC start each)."""
    return {}


def both(runs: dict[str, Both], scenario: str, tmp: Path) -> Both:
    if scenario not in runs:
        require_samba()
        none = connector_account_verdicts(scenario, "none", tmp / "none")
        with audited(scenario, "samba", tmp / "samba") as done:
            (pair,) = done.run.pairs
            assert pair.directory is not None, pair.directory_error
            assert done.directory is not None and done.directory._proc is not None
            second = SambaDirectory(done.model, tmp / "second", done.directory.address)
            with pytest.raises(LabError) as caught:
                second.start()
            assert not second.running and not second.run_dir.exists()
            pid, dc = done.directory._proc.pid, done.directory
        runs[scenario] = Both(none, verdicts_of(done.run), done.model, pair.directory, pid, dc.run_dir,
                              str(caught.value), dc.address, alias_gone(dc.address))
    return runs[scenario]


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_samba_gives_the_probes_verdicts(runs: dict[str, Both], scenario: str, tmp_path: Path) -> None:
    got = both(runs, scenario, tmp_path)
    assert got.samba == got.none
    standby = got.samba["aadc02"]
    if scenario == "healthy-pair":
        assert got.samba == {"aadc01": ("passed", ()), "aadc02": ("passed", ())}
    elif scenario == STATES["name"]:
        assert [m for _, m in got.samba["aadc01"][1] if "is disabled" in m]
        assert [m for _, m in standby[1] if "has an expired password" in m]
    else:
        assert standby[0] == "failed" and standby[1], standby
        assert got.samba["aadc01"] == ("passed", ())


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_the_seeded_accounts_read_back_as_the_scenario_says(runs: dict[str, Both], scenario: str,
                                                            tmp_path: Path) -> None:
    got = both(runs, scenario, tmp_path)
    assert len(got.facts.accounts) == len(got.model.accounts) == 2
    for want in got.model.accounts:
        read = got.facts.account(want.sam_account_name, got.model.domain)
        assert read is not None and read.error is None and read.account is not None
        state = read.account
        assert (state.sid, state.distinguished_name) == (want.sid, want.dn)  # the scenario's SID, kept
        # A DC cannot hold "must change" with "never expires" (the latter wins): the seed drops never-expires.
        never_expires = want.password_never_expires and not want.password_expired
        assert (state.enabled, state.locked_out, state.password_expired, state.password_never_expires) == (
            want.enabled, want.locked_out, want.password_expired, never_expires)
        assert want.password_last_set is not None
        if want.password_expired:  # seeded as "must change at next logon": pwdLastSet 0
            assert state.password_last_set is None
        else:
            assert state.password_last_set is not None
            assert abs((state.password_last_set - want.password_last_set).total_seconds()) < 1
        # Every explicit ACE the model sets for this account is on its container, as set (the account is
        # read on the root and the OUs its own server syncs).
        objects = {o.object_dn.lower(): o for o in read.permissions}
        assert got.model.base_dn.lower() in objects and len(objects) >= 3
        for container in got.model.containers:
            mine = {(tuple(a.rights), a.object_type, a.inheritance) for a in container.aces
                    if a.trustee_sid == want.sid}
            if container.dn.lower() not in objects:
                continue
            seen = {(a.rights, a.object_type, a.inheritance) for a in objects[container.dn.lower()].aces
                    if not a.inherited and a.access == "Allow"}
            assert seen == mine, container.dn


def test_misscoped_grants_are_read_with_their_scope_and_not_counted(runs: dict[str, Both],
                                                                    tmp_path: Path) -> None:
    got = both(runs, "connector-account-misscoped-aces", tmp_path)
    standby = next(a for a in got.model.accounts if a.dn.startswith("CN=MSOL_8807"))
    read = got.facts.account(standby.sam_account_name, got.model.domain)
    assert read is not None
    root = next(o for o in read.permissions if o.scope == "domain-root")
    staff = next(o for o in read.permissions if o.object_dn.startswith("OU=Staff"))
    # The right GUIDs are there (a check of GUIDs alone would pass), with the scope that defeats them.
    assert {a.inheritance for a in root.aces if a.object_type == REPL} == {"Descendents"}
    assert [a.inheritance for a in staff.aces if a.object_type == RESET and not a.inherited] == ["None"]
    messages = "\n".join(m for _, m in got.samba["aadc02"][1])
    assert "lacks ExtendedRight Replicating Directory Changes" in messages
    assert "on DC=contoso,DC=com" in messages
    assert (f"lacks ExtendedRight Reset Password ({RESET}) inherited to users on OU=Staff,DC=contoso,DC=com"
            in messages)


# --- Kerberos: the lab's WinRM accepts tickets from this DC; the audit runs with auth: kerberos -----------


def test_the_audit_runs_with_kerberos_to_winrm_and_ldap(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    require_samba()
    try:
        import gssapi  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must run the Kerberos tests: scripts/test installs the kerberos extra")
        pytest.skip("the kerberos extra (gssapi) is not installed")
    raw = scenario_dict("break-connector-account")
    with Lab(raw, cloud=False, **BARE_LAB) as lab:
        model = directory_model([s.state for s in lab.servers.values()])
        raw.setdefault("lab", {})["domain"] = model.domain.upper()
    # The lab's user is the ticket's client: its domain must be the realm (LabCredentials.matches).
    with Lab(raw, cloud=False, **BARE_LAB) as lab:
        assert lab.credentials is not None
        hosts = [LabHost(s.name, s.address) for s in lab.servers.values()]
        with SambaDirectory(model, tmp_path / "dc", None, hosts=hosts,
                            login=Login(lab.credentials.user, lab.credentials.password)) as directory:
            for key, value in directory.kerberos_env().items():
                monkeypatch.setenv(key, value)  # the lab's acceptor reads the keytab per logon
            monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'ccache'}")
            inventory = lab.inventory_dict()
            pair = inventory["pairs"][0]
            pair["connection"].update(directory.kerberos_connection())
            pair["directory"] = directory.inventory_block(auth="kerberos")
            path = write_private_inventory(tmp_path / "inventory.yml", inventory,
                                           "# entra-standby lab inventory: holds the lab password")
            trace = tmp_path / "krb5-trace.log"
            junit = tmp_path / "junit.xml"
            run = run_checks("--inventory", str(path), f"--junitxml={junit}", "-k", "connector_account",
                             env={"KRB5_TRACE": str(trace)})
    cases = junit_cases(junit)
    standby = cases["test_connector_account[break-connector-account/aadc02]"]
    active = cases["test_connector_account[break-connector-account/aadc01]"]
    assert active.outcome == "passed", run.output[-3000:]
    assert standby.outcome == "failed" and "is locked out" in standby.message, run.output[-3000:]
    assert "lacks ExtendedRight Reset Password" in standby.message
    text = trace.read_text(encoding="utf-8")
    # Kerberos, not NTLM: service tickets for the WinRM servers and for the DC's LDAP, from this KDC
    assert f"host/127.0.0.12@{directory.realm}" in text and f"ldap/{directory.dc_host}@" in text
    assert directory.krb5_conf.exists() is False  # stop() removed what start() made


# --- start failures and cleanup ---------------------------------------------------------------------------


def test_a_second_dc_on_the_same_address_is_one_line_and_stop_leaves_nothing(runs: dict[str, Both],
                                                                             tmp_path: Path) -> None:
    got = both(runs, "healthy-pair", tmp_path)
    assert "\n" not in got.second_start and got.address in got.second_start
    assert "another lab's Samba DC" in got.second_start
    assert got.pid and not samba_dc.alive(got.pid) and not got.run_dir.exists()
    assert got.alias_gone is not False  # the alias start() added is gone


def test_a_failed_seed_is_one_line_and_leaves_nothing_running(tmp_path: Path) -> None:
    require_samba()
    with Lab(scenario_dict("healthy-pair"), serve=False) as lab:
        model = directory_model([s.state for s in lab.servers.values()])
    # RID 500 is the domain's Administrator: the DC refuses a second object with that SID
    clash = replace(model.accounts[0], sid=f"{model.domain_sid}-500")
    broken = replace(model, accounts=(clash, *model.accounts[1:]))
    directory = SambaDirectory(broken, tmp_path, None)
    with pytest.raises(LabError) as caught:
        directory.start()
    text = str(caught.value)
    assert "\n" not in text and "seeding the lab's Samba DC for contoso.com failed" in text
    log = tmp_path / "samba-log" / "seed.log"
    assert str(log) in text and log.is_file()
    assert not directory.running and not directory.run_dir.exists() and not directory.keytab.exists()
    assert directory._address_lock is None and alias_gone(directory.address) is not False


def test_a_lab_login_password_without_complexity_is_seeded(tmp_path: Path) -> None:
    """The lab's WinRM password is random URL-safe text: some draws have no digit or no capital, which AD's
    complexity rule refuses. The lab-only domain turns the rule off, so every draw seeds (a CI flake)."""
    require_samba()
    with Lab(scenario_dict("healthy-pair"), serve=False) as lab:
        model = directory_model([s.state for s in lab.servers.values()])
    with SambaDirectory(model, tmp_path / "dc", None,
                        login=Login("auditor", "onlylowercaselettershere")) as directory:
        assert directory.running
