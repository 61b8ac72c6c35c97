"""The lab's embedded directory against the tool's own LDAP client (entra_standby/directory): no mocks.

One lab per module (connector-account-misscoped-aces: a healthy active account and a standby account whose
grants sit where they do not apply); its directory is read with ``read_directory`` through the inventory's
``directory:`` block exactly as an audit reads it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import spnego
from spine_helpers import SCENARIOS

from entra_standby.directory import ber, ldap
from entra_standby.directory.config import DirectoryConfig, parse_directory_block
from entra_standby.directory.errors import DirectoryError
from entra_standby.directory.facts import DirectoryFacts
from entra_standby.directory.read import connect, read_directory
from entra_standby.directory.sd import ALL_ZERO, dacl
from entra_standby.errors import LabError
from entra_standby.gather import gather
from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab
from entra_standby.lab.ldapserver import EmbeddedDirectory
from entra_standby.lab.ldapserver.tree import OU_CLASS
from entra_standby.results import Outcome, evaluate_check
from entra_standby.rules import load_all

REPL = "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2"
RESET = "00299570-246d-11d0-a768-00aa006e0529"
USER = "bf967aba-0de6-11d0-a285-00aa003049e2"
BASE = "DC=contoso,DC=com"
STAFF = f"OU=Staff,{BASE}"
CI, NP, IO, ID = 0x02, 0x04, 0x08, 0x10


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(SCENARIOS / "connector-account-misscoped-aces.yml", cloud=False) as running:
        yield running


@pytest.fixture(scope="module")
def dc(lab: Lab) -> EmbeddedDirectory:
    assert isinstance(lab.dc, EmbeddedDirectory)
    return lab.dc


def config(block: dict[str, Any]) -> DirectoryConfig:
    return parse_directory_block(block, path="lab.yml", key="pairs[0].directory", base_dir=Path("."))


@pytest.fixture(scope="module")
def facts(dc: EmbeddedDirectory) -> DirectoryFacts:
    accounts = [(a.sam_account_name, "CONTOSO") for a in dc.model.accounts] + [("MSOL_nobody", "CONTOSO")]
    objects = [(BASE, "domain-root"), (STAFF, "ou")]
    return read_directory(config(dc.inventory_block()), accounts, objects)


def standby_sid(dc: EmbeddedDirectory) -> str:
    return next(a.sid for a in dc.model.accounts if a.sam_account_name.startswith("MSOL_8807"))


def raw_descriptor(dc: EmbeddedDirectory, dn: str, flags: int | None) -> bytes | None:
    with connect(config(dc.inventory_block())) as conn:
        (entry,) = conn.search(dn, ldap.SCOPE_BASE, ldap.present("objectClass"), ["nTSecurityDescriptor"],
                               sd_flags=flags)
        return entry.first("nTSecurityDescriptor")


# --- the inventory block and the lab's wiring ---------------------------------------------------------------


def test_the_lab_inventory_points_at_its_directory(lab: Lab, dc: EmbeddedDirectory) -> None:
    block = lab.inventory_dict()["pairs"][0]["directory"]
    assert block == dc.inventory_block()
    assert (block["domain"], block["servers"], block["transport"], block["auth"]) == (
        "contoso.com", ["127.0.0.10"], "ldap", "ntlm")
    assert block["username"] == "CONTOSO\\svc-entra-audit" and len(block["password"]) >= 20
    parsed = config(block)  # the inventory accepts it as written (inline password: loopback only)
    assert parsed.port == dc.port != 389 and parsed.password == block["password"]


def test_directory_none_has_no_block_and_an_unknown_mode_is_refused() -> None:
    with Lab(SCENARIOS / "healthy-pair.yml", cloud=False, directory="none") as lab:
        assert lab.dc is None and "directory" not in lab.inventory_dict()["pairs"][0]
    with pytest.raises(LabError, match="unknown lab directory 'ldap'"):
        Lab(SCENARIOS / "healthy-pair.yml", directory="ldap")


def test_stop_closes_the_directory(tmp_path: Path) -> None:
    with Lab(SCENARIOS / "healthy-pair.yml", cloud=False) as lab:
        assert lab.dc is not None
        block = lab.dc.inventory_block()
    with pytest.raises(DirectoryError) as caught:
        read_directory(config(block), [("MSOL_x", None)], [(BASE, "domain-root")])
    assert caught.value.kind == "unreachable"


# --- what the audit reads -----------------------------------------------------------------------------------


def test_account_state_and_identity_come_from_the_model(dc: EmbeddedDirectory, facts: DirectoryFacts) -> None:
    for model in dc.model.accounts:
        read = facts.account(model.sam_account_name, "CONTOSO")
        assert read is not None and read.error is None and read.account is not None
        state = read.account
        assert (state.found, state.sid, state.distinguished_name) == (True, model.sid, model.dn)
        assert (state.enabled, state.locked_out, state.password_expired, state.password_never_expires) == (
            model.enabled, model.locked_out, model.password_expired, model.password_never_expires)
        assert read.account_expires_utc is None and read.password_expires_utc is None  # never
        assert read.groups == (f"{dc.model.domain_sid}-513", "S-1-5-32-545")  # Domain Users, BUILTIN\Users
    nobody = facts.account("MSOL_nobody", "CONTOSO")
    assert nobody is not None and nobody.account is not None and nobody.account.found is False


def test_locked_and_expired_accounts(tmp_path: Path) -> None:
    scenario = {"name": "states", "servers": {"aadc02": {"connectors": {"contoso.com": {
        "account": {"locked_out": True, "password_expired": True, "enabled": False,
                    "password_never_expires": False}}}}}}
    with Lab(scenario, cloud=False) as lab:
        assert isinstance(lab.dc, EmbeddedDirectory)
        user = next(a for a in lab.dc.model.accounts if a.sam_account_name.startswith("MSOL_8807"))
        read = read_directory(config(lab.dc.inventory_block()), [(user.sam_account_name, None)],
                              [(BASE, "domain-root")]).accounts[0]
    assert read.account is not None
    state = read.account
    assert (state.enabled, state.locked_out, state.password_expired) == (False, True, True)
    assert read.account.password_last_set is None  # pwdLastSet 0: must change at next logon
    assert read.password_expires_utc is None  # msDS-UserPasswordExpiryTimeComputed 0


def test_the_misscoped_grants_are_there_but_not_where_they_apply(dc: EmbeddedDirectory,
                                                                 facts: DirectoryFacts) -> None:
    standby = next(a for a in facts.accounts if a.user.startswith("MSOL_8807"))
    root, staff = standby.permissions
    repl = [a for a in root.aces if a.object_type == REPL]
    # inherit-only on the root
    assert [(a.inheritance, a.inherited) for a in repl] == [("Descendents", False)]
    # On the OU the inherited copy applies (a DC clears INHERIT_ONLY on the child it reaches) ...
    assert [(a.inheritance, a.inherited) for a in staff.aces if a.object_type == REPL] == [("All", True)]
    # ... and the OU's own Reset Password is for the OU only: no INHERIT flags, nothing for users.
    assert [(a.inheritance, a.inherited) for a in staff.aces if a.object_type == RESET] == [("None", False)]
    # Grants restricted to user objects stay inherit-only on the OU (an OU is not a user).
    assert {a.inheritance for a in staff.aces if a.inherited_object_type == USER} == {"Descendents"}


# --- the security descriptor bytes -------------------------------------------------------------------------


def test_the_descriptor_bytes_round_trip_through_the_tools_parser(dc: EmbeddedDirectory) -> None:
    for dn in (BASE, STAFF):
        raw = raw_descriptor(dc, dn, ldap.DACL_SECURITY_INFORMATION)
        assert raw is not None
        entry = dc.tree.get(dn)
        assert entry is not None and list(dacl(raw)) == entry.dacl
        revision, _, control, owner, group, sacl, dacl_at = struct.unpack_from("<BBHIIII", raw)
        assert (revision, owner, group, sacl) == (1, 0, 0, 0) and dacl_at == 20  # DACL only, as asked
        assert control & 0x8000 and control & 0x0004  # self-relative, DACL present
        acl_revision, _, acl_size, count = struct.unpack_from("<BBHH", raw, dacl_at)
        assert acl_revision == 4 and acl_size == len(raw) - 20 and count == len(entry.dacl)


def test_inheritance_is_materialised_as_a_dc_does(dc: EmbeddedDirectory) -> None:
    root, staff = dc.tree.get(BASE), dc.tree.get(STAFF)
    assert root is not None and staff is not None
    sid = standby_sid(dc)
    explicit_root = [a for a in root.dacl if a.sid == sid]
    assert all(not a.flags & ID for a in explicit_root)
    copies = [a for a in staff.dacl if a.sid == sid and a.flags & ID]
    # Every root ACE of this account that inherits reaches the OU once; "this object only" ones do not.
    assert len(copies) == len([a for a in explicit_root if a.flags & CI])
    for copy in copies:
        assert copy.flags & CI
        assert bool(copy.flags & IO) == (copy.inherited_object_type not in (ALL_ZERO, OU_CLASS))
    # Explicit ACEs come first, then the inherited ones (Windows' canonical order).
    flags = [bool(a.flags & ID) for a in staff.dacl]
    assert flags == sorted(flags)
    # A user object below an OU gets the user-class grants as effective (not inherit-only) copies.
    user = next(e for e in dc.tree.entries.values() if e.account is not None)
    assert any(a.sid == sid and a.flags & ID and not a.flags & IO and a.inherited_object_type == USER
               for a in user.dacl)


def test_the_sd_flags_control_is_honoured(dc: EmbeddedDirectory) -> None:
    # A plain reader without the control gets no security descriptor (it would include the SACL).
    assert raw_descriptor(dc, BASE, None) is None
    assert raw_descriptor(dc, BASE, 0x8 | 0x4) is None  # asking for the SACL: SeSecurityPrivilege needed
    with_owner = raw_descriptor(dc, BASE, 0x1 | 0x2 | 0x4)
    assert with_owner is not None
    _, _, _, owner, group, sacl, _ = struct.unpack_from("<BBHIIII", with_owner)
    assert owner and group and sacl == 0
    no_dacl = raw_descriptor(dc, BASE, 0x1)
    assert no_dacl is not None and dacl(no_dacl) == ()


# --- authentication -----------------------------------------------------------------------------------------


def test_a_wrong_password_is_an_auth_finding(lab: Lab, dc: EmbeddedDirectory, tmp_path: Path) -> None:
    raw = lab.inventory_dict()
    raw["pairs"][0]["directory"]["password"] = "Not-The-Lab-Password-1"
    run = gather(inventory_from_dict(raw, path=tmp_path / "inventory.yml"), probes=("connectors", "config"))
    (pair,) = run.pairs
    assert pair.directory is None and pair.directory_error is not None
    error = pair.directory_error
    assert error.kind == "auth" and "Not-The-Lab-Password-1" not in error.message
    assert "rejected the credentials of CONTOSO\\svc-entra-audit" in pair.directory_error.message
    result = evaluate_check(load_all()["connector-account"], pair, pair.server(lab.server("aadc01").address))
    assert result.outcome is Outcome.FAILED
    assert any("LDAP read from this host failed" in f.message for f in result.findings)


def test_an_unsigned_bind_and_a_simple_bind_in_clear_are_refused(dc: EmbeddedDirectory) -> None:
    with ldap.LdapConnection(dc.address, dc.port, tls=False, timeout=5) as conn:
        context = spnego.client(dc.credentials.username, dc.credentials.password, hostname=dc.address,
                                service="ldap", protocol="ntlm", context_req=spnego.ContextReq.mutual_auth)
        with pytest.raises(DirectoryError, match="requires a signed or encrypted bind") as caught:
            conn.bind_sasl(context, "reader")
        assert caught.value.kind == "auth"
    with ldap.LdapConnection(dc.address, dc.port, tls=False, timeout=5) as conn:
        conn.tls = True  # make the client send it anyway: the server must refuse a password in clear
        with pytest.raises(DirectoryError, match="requires a signed or encrypted bind"):
            conn.bind_simple(dc.credentials.username, dc.credentials.password)


def test_ldaps_with_a_simple_bind_and_the_lab_ca(dc: EmbeddedDirectory, facts: DirectoryFacts) -> None:
    ldaps = config(dc.ldaps_block())
    got = read_directory(ldaps, [(a.user, a.domain) for a in facts.accounts], [(BASE, "domain-root"),
                                                                              (STAFF, "ou")])
    assert got.accounts == facts.accounts
    with pytest.raises(DirectoryError, match="rejected the credentials"):
        read_directory(replace(ldaps, password="wrong-password"), [("MSOL_x", None)], [(BASE, "domain-root")])
    with pytest.raises(DirectoryError, match="TLS handshake failed"):
        read_directory(replace(ldaps, ca_bundle=None), [("MSOL_x", None)], [(BASE, "domain-root")])


# --- refusals -----------------------------------------------------------------------------------------------


def exchange(conn: ldap.LdapConnection, op: bytes, controls: bytes = b"") -> ber.Element:
    msg_id = conn._take_id()
    conn._send(ber.sequence(ber.integer(msg_id), op, controls))
    return conn._receive(msg_id)


def result_code(reply: ber.Element) -> int:
    return reply.children[0].as_int()


def test_what_is_not_served_is_refused(dc: EmbeddedDirectory) -> None:
    with connect(config(dc.inventory_block())) as conn:
        # A modify (replace description) is unwillingToPerform: the lab directory serves reads only.
        change = ber.sequence(ber.integer(2, tag=ber.ENUMERATED), ber.sequence(
            ber.octets("description"), ber.sequence(ber.octets("x"), tag=ber.SET)))
        modify = exchange(conn, ber.sequence(ber.octets(STAFF), ber.sequence(change), tag=0x66))
        assert (modify.tag, result_code(modify)) == (0x67, 53)
        # A substring filter is not guessed at.
        substring = ber.sequence(ber.octets("sAMAccountName"), ber.sequence(ber.octets("MSOL", tag=0x80)),
                                 tag=ber.CONTEXT | ber.CONSTRUCTED | 4)
        with pytest.raises(DirectoryError) as caught:
            conn.search(BASE, ldap.SCOPE_SUBTREE, substring, ["cn"])
        assert caught.value.code == 53
        # A base that does not exist is noSuchObject.
        with pytest.raises(DirectoryError) as caught:
            conn.search(f"OU=Nowhere,{BASE}", ldap.SCOPE_BASE, ldap.present("objectClass"), ["cn"])
        assert caught.value.code == 32
        # An unknown critical control is unavailableCriticalExtension.
        control = ber.sequence(ber.sequence(ber.octets("1.2.840.113556.1.4.319"), ber.boolean(True)),
                               tag=ber.CONTEXT | ber.CONSTRUCTED | 0)
        request = ber.sequence(ber.octets(BASE), ber.integer(0, tag=ber.ENUMERATED),
                               ber.integer(0, tag=ber.ENUMERATED), ber.integer(0), ber.integer(0),
                               ber.boolean(False), ldap.present("objectClass"), ber.sequence(), tag=0x63)
        done = exchange(conn, request, control)
        assert (done.tag, result_code(done)) == (0x65, 12)


def test_only_the_rootdse_before_a_bind(dc: EmbeddedDirectory) -> None:
    with ldap.LdapConnection(dc.address, dc.port, tls=False, timeout=5) as conn:
        (root,) = conn.search("", ldap.SCOPE_BASE, ldap.present("objectClass"),
                              ["defaultNamingContext", "supportedSASLMechanisms", "supportedControl"])
        assert root.text("defaultNamingContext") == BASE
        assert root.text("supportedSASLMechanisms") == "GSS-SPNEGO"
        assert root.text("supportedControl") == ldap.SD_FLAGS_OID
        with pytest.raises(DirectoryError) as caught:
            conn.search(BASE, ldap.SCOPE_BASE, ldap.present("objectClass"), ["cn"])
        assert caught.value.code == 1 and "successful bind must be completed" in str(caught.value)


def test_constructed_attributes_only_when_named_and_token_groups_on_base_only(dc: EmbeddedDirectory) -> None:
    user = next(a for a in dc.model.accounts)
    with connect(config(dc.inventory_block())) as conn:
        found = conn.search(BASE, ldap.SCOPE_SUBTREE, ldap.eq("sAMAccountName", user.sam_account_name),
                            ["*", "tokenGroups"])
        (entry,) = found
        assert entry.first("sAMAccountName") == user.sam_account_name.encode()
        assert entry.first("tokenGroups") is None
        assert entry.first("msDS-User-Account-Control-Computed") is None
        assert entry.first("nTSecurityDescriptor") is None
        (base,) = conn.search(entry.dn, ldap.SCOPE_BASE, ldap.present("objectClass"), ["tokenGroups"])
        assert len(base.attributes["tokengroups"]) == 2
        # objectSid lookups (how the reader names a group trustee) match the binary SID exactly.
        by_sid = conn.search(BASE, ldap.SCOPE_SUBTREE, ldap.eq("objectSid", entry.first("objectSid") or b""),
                             ["sAMAccountName"])
        assert [e.dn for e in by_sid] == [entry.dn]


def test_no_propagate_reaches_one_level_only() -> None:
    # SelfAndChildren / Children ([MS-DTYP] NO_PROPAGATE_INHERIT): the child's copy applies there and goes
    # no further; not in any scenario yet, and not compared with Samba (the seeded DC has no such ACE).
    from entra_standby.directory.sd import RawAce
    from entra_standby.lab.ldapserver.descriptors import inherit

    parent = [RawAce("S-1-5-21-1-2-3-1000", True, 0x100, CI | NP, RESET),
              RawAce("S-1-5-21-1-2-3-1001", True, 0x100, CI | NP | IO, RESET)]
    child = inherit(parent, OU_CLASS)
    assert [(a.sid[-4:], a.flags) for a in child] == [("1000", ID), ("1001", ID)]
    assert {a.inheritance for a in child} == {"None"} and inherit(child, OU_CLASS) == []
