"""The directory reads against a real Samba AD DC on loopback (tests/sambadc.py): binds, state, rights.

Every expectation here was seeded by tests/dc/seed.py; the reader is the plain user ``auditor``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sambadc
import yaml
from sambadc import BASE_DN, DC_HOST, DOMAIN, PASSWORD, RunningDC
from spine_helpers import SCENARIOS

from entra_standby.directory import ldap
from entra_standby.directory.config import DirectoryConfig
from entra_standby.directory.errors import DirectoryError
from entra_standby.directory.facts import DirectoryFacts
from entra_standby.directory.read import read_directory
from entra_standby.evidence import load_evidence, write_evidence
from entra_standby.gather import RunFacts, gather
from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab
from entra_standby.rules import Finding, evaluate
from entra_standby.rules.accounts import SELF, USERS, Grant, covers
from entra_standby.rules.guids import FEATURE_GRANTS, guid_name

OU = f"OU=Sync,{BASE_DN}"
OBJECTS = [(BASE_DN, "domain-root"), (OU, "ou")]
SEEDED = ("full", "group", "bare", "scoped", "denied", "disabled", "locked", "expired")


@pytest.fixture(scope="session")
def dc() -> Iterator[RunningDC]:
    try:
        running = sambadc.acquire()
    except sambadc.SambaUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the real-directory tests: {exc}")
        pytest.skip(str(exc))
    yield running
    sambadc.release()


def ntlm(dc: RunningDC, **changes: object) -> DirectoryConfig:
    config = DirectoryConfig(domain=DOMAIN, servers=(dc.ip,), auth="ntlm", username="CONTOSO\\auditor",
                             password=PASSWORD, spn_host=DC_HOST, timeout=5)
    return replace(config, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def read_all(dc: RunningDC) -> DirectoryFacts:
    return read_directory(ntlm(dc), [(f"MSOL_{n}", "CONTOSO") for n in (*SEEDED, "nobody")], OBJECTS)


def verdicts(facts: DirectoryFacts, user: str) -> dict[str, bool]:
    account = facts.account(f"MSOL_{user}", "CONTOSO")
    assert account is not None and account.error is None
    out: dict[str, bool] = {}
    for obj in account.permissions:
        target = SELF if obj.scope == "domain-root" else USERS
        for grants in FEATURE_GRANTS.values():
            for g in grants:
                if g.scope == obj.scope:
                    name = guid_name(g.object_type).split(" (")[0]
                    out[name] = covers(obj.aces, Grant(g.right, g.object_type, target))
    return out


def test_a_plain_user_reads_dacls_signed_and_sealed_on_389(dc: RunningDC) -> None:
    from entra_standby.directory.read import connect

    with connect(ntlm(dc)) as conn:
        assert not conn.tls
        (entry,) = conn.search(BASE_DN, ldap.SCOPE_BASE, ldap.present("objectClass"),
                               ["nTSecurityDescriptor"], sd_flags=ldap.DACL_SECURITY_INFORMATION)
        assert len(entry.first("nTSecurityDescriptor") or b"") > 500
        # Without the SD flags control a non-admin gets no security descriptor at all.
        (bare,) = conn.search(BASE_DN, ldap.SCOPE_BASE, ldap.present("objectClass"), ["nTSecurityDescriptor"])
        assert bare.first("nTSecurityDescriptor") is None


def test_the_dc_refuses_an_unsigned_bind_on_389(dc: RunningDC) -> None:
    import spnego

    with ldap.LdapConnection(dc.ip, 389, tls=False, timeout=5) as conn:
        context = spnego.client("CONTOSO\\auditor", PASSWORD, hostname=DC_HOST, service="ldap",
                                protocol="ntlm", context_req=spnego.ContextReq.mutual_auth)
        # Samba answers invalidCredentials (not strongerAuthRequired) to unsigned NTLM: refused either way
        with pytest.raises(DirectoryError) as caught:
            conn.bind_sasl(context, "auditor")
        assert caught.value.kind == "auth"


def test_simple_bind_only_over_tls_and_the_certificate_is_verified(dc: RunningDC) -> None:
    config = ntlm(dc, auth="simple", transport="ldaps", port=636, ca_bundle=dc.ca_file,
                  tls_server_name="DC1.contoso.test", username="auditor@contoso.test")
    facts = read_directory(config, [("MSOL_full", "CONTOSO")], OBJECTS)
    assert verdicts(facts, "full")["Replicating Directory Changes All"]
    with pytest.raises(DirectoryError, match="TLS handshake failed"):
        read_directory(replace(config, ca_bundle=None), [("MSOL_full", "CONTOSO")], OBJECTS)
    with pytest.raises(DirectoryError, match="in clear"):
        read_directory(replace(config, transport="ldap", port=389), [("MSOL_full", "CONTOSO")], OBJECTS)


def test_a_wrong_password_is_one_line_without_the_password(dc: RunningDC) -> None:
    with pytest.raises(DirectoryError) as caught:
        read_directory(ntlm(dc, password="Wrong-Pa55word!"), [("MSOL_full", "CONTOSO")], OBJECTS)
    text = str(caught.value)
    assert caught.value.kind == "auth" and "\n" not in text and "Wrong-Pa55word!" not in text
    assert "auditor" in text


def test_an_unreachable_dc_is_named(dc: RunningDC) -> None:
    with pytest.raises(DirectoryError, match=r"127\.0\.0\.21") as caught:
        read_directory(ntlm(dc, servers=("127.0.0.21",), timeout=2), [("MSOL_full", None)], OBJECTS)
    assert caught.value.kind == "unreachable"


def test_the_next_dc_is_tried_when_the_first_does_not_answer(dc: RunningDC) -> None:
    facts = read_directory(ntlm(dc, servers=("127.0.0.21", dc.ip)), [("MSOL_full", None)], OBJECTS)
    assert facts.server == dc.ip


def test_account_state(read_all: DirectoryFacts) -> None:
    def state(user: str) -> tuple[object, ...]:
        account = read_all.account(f"MSOL_{user}", "contoso")
        assert account is not None and account.account is not None
        a = account.account
        return (a.found, a.enabled, a.locked_out, a.password_expired)

    assert state("full") == (True, True, False, False)
    assert state("disabled") == (True, False, False, False)
    assert state("locked") == (True, True, True, False)
    assert state("expired") == (True, True, False, True)
    assert state("nobody")[0] is False
    full = read_all.account("MSOL_full", "CONTOSO")
    assert full is not None and full.account is not None and full.account.sid is not None
    assert full.account.distinguished_name == f"CN=MSOL_full,CN=Users,{BASE_DN}"
    assert full.account_expires_utc is None and full.password_expires_utc is None  # never (seeded policy)


def test_express_rights_granted_directly_or_through_a_group(read_all: DirectoryFacts) -> None:
    assert all(verdicts(read_all, "full").values()) and len(verdicts(read_all, "full")) == 6
    assert all(verdicts(read_all, "group").values())
    group = read_all.account("MSOL_group", "CONTOSO")
    assert group is not None and any("SyncRights" in a.identity for o in group.permissions for a in o.aces)
    assert not any(verdicts(read_all, "bare").values())


def test_inherit_only_on_the_root_and_this_object_only_on_the_ou_are_not_granted(
        read_all: DirectoryFacts) -> None:
    scoped = read_all.account("MSOL_scoped", "CONTOSO")
    assert scoped is not None
    root, ou = scoped.permissions
    # The ACEs are there with the right GUIDs, so a test of GUIDs alone would pass them.
    assert {a.inheritance for a in root.aces} == {"Descendents"} and len(root.aces) == 2
    assert "None" in {a.inheritance for a in ou.aces}
    assert not any(verdicts(read_all, "scoped").values())


def test_a_deny_takes_away_what_a_group_allows(read_all: DirectoryFacts) -> None:
    got = verdicts(read_all, "denied")
    assert got["Replicating Directory Changes"] and not got["Replicating Directory Changes All"]
    assert got["Reset Password"]


# --- end to end: the lab's sync servers name the accounts, the Samba DC holds them ------------------------


def lab_scenario(active: str, standby: str, **standby_connector: object) -> dict[str, object]:
    def connector(user: str) -> dict[str, object]:
        return {"account_user": user, "account_domain": "CONTOSO", "forest": DOMAIN, "domain_root": BASE_DN,
                "partitions": {"DC=contoso,DC=com": {"inclusions": []},
                               BASE_DN: {"selected": True, "inclusions": [OU]}}}

    return {"name": "samba-directory", "description": "connector accounts read from the Samba DC",
            "servers": {"aadc01": {"connectors": {"contoso.com": connector(active)}},
                        "aadc02": {"connectors": {"contoso.com": {**connector(standby),
                                                                  **standby_connector}}}}}


def audit(dc: RunningDC, tmp_path: Path, scenario: dict[str, object], **directory: object) -> list[Finding]:
    """connector-account on the standby, with the pair's directory: block pointing at the Samba DC."""
    return connector_account(audit_run(dc, tmp_path, scenario, **directory))


def audit_run(dc: RunningDC, tmp_path: Path, scenario: dict[str, object], **directory: object) -> RunFacts:
    with Lab(scenario, cloud=False, directory="none") as lab:  # the block: Samba's
        raw = lab.inventory_dict()
        raw["pairs"][0]["directory"] = {"domain": DOMAIN, "servers": [dc.ip], "auth": "ntlm",
                                        "username": "CONTOSO\\auditor", "password": PASSWORD, **directory}
        inventory = inventory_from_dict(raw, path=tmp_path / "inventory.yml")
        return gather(inventory, probes=("connectors", "config"))


def connector_account(run: RunFacts) -> list[Finding]:
    (pair,) = run.pairs
    assert pair.directory_configured
    standby = next(s for s in pair.servers if s.role == "standby")
    return evaluate("connector-account", pair, standby)


def test_the_check_passes_on_rights_read_over_ldap_despite_a_double_hop(dc: RunningDC,
                                                                         tmp_path: Path) -> None:
    # The standby's probe could not read AD (double hop): without a directory block that is a finding.
    findings = audit(dc, tmp_path, lab_scenario("MSOL_full", "MSOL_group", permissions_error="Unable to "
                     "contact the server", permissions_error_kind="double-hop"))
    assert findings == []


def test_the_check_fails_on_grants_that_do_not_apply(dc: RunningDC, tmp_path: Path) -> None:
    findings = audit(dc, tmp_path, lab_scenario("MSOL_full", "MSOL_scoped"))
    text = "\n".join(f.message for f in findings)
    assert "lacks ExtendedRight Replicating Directory Changes" in text and f"on {BASE_DN}" in text
    assert "Reset Password" in text and f"on {OU}" in text
    assert all("CONTOSO\\MSOL_scoped" in f.message for f in findings)


def test_evidence_keeps_the_directory_facts_and_a_replay_gives_the_same_verdict(dc: RunningDC,
                                                                                tmp_path: Path) -> None:
    run = audit_run(dc, tmp_path, lab_scenario("MSOL_full", "MSOL_scoped", permissions_error="Unable to "
                    "contact the server", permissions_error_kind="double-hop"))
    live = connector_account(run)
    assert live and all("CONTOSO\\MSOL_scoped" in f.message for f in live)  # judged on the LDAP facts
    write_evidence(tmp_path / "evidence", run, secrets=[PASSWORD])
    assert (tmp_path / "evidence" / "samba-directory" / "directory.json").is_file()
    assert all(PASSWORD not in f.read_text() for f in (tmp_path / "evidence").rglob("*.json"))
    replay = load_evidence(tmp_path / "evidence")
    assert replay.pairs[0].directory == run.pairs[0].directory
    assert connector_account(replay) == live
    # without the directory facts the same evidence would be judged on the double hop instead
    bare = replace(replay.pairs[0], directory=None)
    assert connector_account(replace(replay, pairs=(bare,))) != live


def test_an_unreadable_directory_is_a_finding_not_a_pass(dc: RunningDC, tmp_path: Path) -> None:
    findings = audit(dc, tmp_path, lab_scenario("MSOL_full", "MSOL_full"), password="Wrong-Pa55word!")
    assert findings and all("LDAP read from this host failed" in f.message for f in findings)
    assert all("Wrong-Pa55word!" not in f.message for f in findings)
    assert findings[0].remediation is not None and "directory: block" in findings[0].remediation


# --- Kerberos (the 'kerberos' extra: gssapi) against Samba's KDC ------------------------------------------


@pytest.fixture
def kerberos(dc: RunningDC) -> None:
    try:
        import gssapi  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must run the Kerberos tests: scripts/test installs the kerberos extra")
        pytest.skip("the kerberos extra (gssapi) is not installed")


def kerberos_config(dc: RunningDC, **changes: object) -> DirectoryConfig:
    return ntlm(dc, auth="kerberos", krb5_config=dc.krb5_conf, **changes)


def test_kerberos_signed_and_sealed_on_389(dc: RunningDC, kerberos: None) -> None:
    facts = read_directory(kerberos_config(dc), [("MSOL_group", "CONTOSO")], OBJECTS)
    assert all(verdicts(facts, "group").values())


def test_kerberos_over_ldaps(dc: RunningDC, kerberos: None) -> None:
    config = kerberos_config(dc, transport="ldaps", port=636, ca_bundle=dc.ca_file,
                             tls_server_name="DC1.contoso.test")
    facts = read_directory(config, [("MSOL_scoped", "CONTOSO")], OBJECTS)
    assert not any(verdicts(facts, "scoped").values())


def test_kerberos_with_an_unknown_spn_says_which_setting(dc: RunningDC, kerberos: None) -> None:
    with pytest.raises(DirectoryError) as caught:
        read_directory(kerberos_config(dc, spn_host="nosuchdc.contoso.test"), [("MSOL_full", None)], OBJECTS)
    assert caught.value.kind == "auth" and "spn_host" in str(caught.value)


# --- Kerberos to WinRM: the lab's servers accept tickets from Samba's KDC ----------------------------------


def test_the_audit_runs_with_kerberos_to_winrm(dc: RunningDC, kerberos: None, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # The lab's acceptor is pyspnego's Negotiate acceptor: with a keytab (KRB5_KTNAME) it takes Kerberos.
    # The lab's domain is the realm, so the ticket's client principal is the lab's user.
    monkeypatch.setenv("KRB5_CONFIG", str(dc.krb5_conf))
    monkeypatch.setenv("KRB5_KTNAME", f"FILE:{dc.keytab}")
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'ccache'}")
    scenario = yaml.safe_load((SCENARIOS / "healthy-pair.yml").read_text(encoding="utf-8"))
    scenario.setdefault("lab", {})["domain"] = "CONTOSO.TEST"
    with Lab(scenario, cloud=False, directory="none") as lab:  # Kerberos to WinRM only, as before
        raw = lab.inventory_dict()
        raw["pairs"][0]["connection"].update(auth="kerberos", username="auditor@CONTOSO.TEST",
                                             password=PASSWORD)
        assert [s["host"] for s in raw["pairs"][0]["servers"]] == ["127.0.0.11", "127.0.0.12"]  # the SPNs
        inventory = inventory_from_dict(raw, path=tmp_path / "inventory.yml")
        assert inventory.pairs[0].servers[0].connection.auth == "kerberos"
        facts = gather(inventory, probes=("service", "scheduler", "connectors"))
        (pair,) = facts.pairs
        assert all(not s.errors for s in pair.servers), [s.errors for s in pair.servers]
        assert pair.server("127.0.0.12").scheduler.staging_mode_enabled
        # A wrong password is refused by the KDC: every host fails as kind auth, naming pre-authentication.
        raw["pairs"][0]["connection"]["password"] = "Wrong-Pa55word!"
        wrong = gather(inventory_from_dict(raw, path=tmp_path / "inventory.yml"), probes=("service",))
        errors = [e for s in wrong.pairs[0].servers for e in s.errors.values()]
        assert len(errors) == 2 and all("pre-authentication failed" in e.message for e in errors), errors
        assert all(e.kind == "auth" for e in errors), errors
        assert all("Wrong-Pa55word!" not in e.message for e in errors)


# --- the lab's embedded directory computes inheritance as this DC does (issue 14 point 3) -------------------


def test_the_embedded_directory_inherits_and_encodes_as_the_real_dc(dc: RunningDC) -> None:
    """The real DC's own DACLs (the seeded grants included: MSOL_scoped's inherit-only replication rights on
    the root, its "this object only" Reset Password and group-only writes on OU=Sync) run through the lab
    directory's inheritance give exactly the inherited ACEs Samba stored on OU=Sync and on alice below it, and
    the lab's encoder turns the parsed DACL back into the DC's very bytes."""
    from entra_standby.directory.read import connect
    from entra_standby.directory.sd import dacl
    from entra_standby.lab.ldapserver.descriptors import descriptor_bytes, inherit
    from entra_standby.lab.ldapserver.tree import OU_CLASS, USER_CLASS

    inherited_flag = 0x10
    with connect(ntlm(dc)) as conn:
        raw = {}
        for dn in (BASE_DN, OU, f"CN=alice,{OU}"):
            (entry,) = conn.search(dn, ldap.SCOPE_BASE, ldap.present("objectClass"), ["nTSecurityDescriptor"],
                                   sd_flags=ldap.DACL_SECURITY_INFORMATION)
            raw[dn] = entry.first("nTSecurityDescriptor") or b""
    root, ou, alice = (list(dacl(raw[dn])) for dn in (BASE_DN, OU, f"CN=alice,{OU}"))
    assert inherit(root, OU_CLASS) == [a for a in ou if a.flags & inherited_flag]
    assert inherit(ou, USER_CLASS) == [a for a in alice if a.flags & inherited_flag]
    scoped = {a.flags for a in ou if a.flags & inherited_flag and a.object_type.startswith("1131f6a")
              and not a.sid.endswith(("-498", "-516")) and a.sid.startswith("S-1-5-21-")}
    assert scoped == {0x12}  # the root's inherit-only grant applies on the OU (CI|ID), as the lab serves it
    for dn, data in raw.items():
        assert descriptor_bytes(None, None, dacl(data)) == data, dn
