"""The directory block, the BER codec and the security-descriptor parser, without a DC (those reads:
tests/test_directory_samba.py)."""

from __future__ import annotations

import dataclasses
import os
import re
import struct
import textwrap
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from factbuilders import NOW, ad_connector, healthy_pair, run

from entra_standby.directory import ber
from entra_standby.directory.config import DIRECTORY_DEFAULTS, KNOWN_KEYS
from entra_standby.directory.errors import DirectoryError
from entra_standby.directory.facts import DirectoryAccount, DirectoryFacts
from entra_standby.directory.sd import dacl
from entra_standby.errors import InventoryError
from entra_standby.inventory import load_inventory
from entra_standby.rules import Finding

ROOT = Path(__file__).resolve().parents[1]
SECRET = "Dir-Secret-Pa55!"

INVENTORY = """\
defaults:
  connection: {username: CONTOSO\\\\svc, password_env: ESB_DIR_PW}
pairs:
  - name: p
    servers:
      - {host: aadc01.contoso.com, role: active}
      - {host: aadc02.contoso.com, role: standby}
    directory:
"""


def load(tmp_path: Path, block: str) -> object:
    text = INVENTORY + textwrap.indent(textwrap.dedent(block), "      ")
    path = tmp_path / "inv.yml"
    path.write_text(text, encoding="utf-8")
    return load_inventory(path).pairs[0].directory


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESB_DIR_PW", SECRET)


def test_a_minimal_block_defaults_to_kerberos_on_signed_389(tmp_path: Path) -> None:
    config = load(tmp_path, "domain: Contoso.com\n")
    assert repr(config).startswith("DirectoryConfig(domain='contoso.com', servers=('contoso.com',)")
    assert (config.transport, config.port, config.auth, config.base_dn) == (  # type: ignore[attr-defined]
        "ldap", 389, "kerberos", "DC=contoso,DC=com")


def test_a_full_block_and_the_secret_stays_hidden(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    config = load(tmp_path, """\
        domain: contoso.com
        servers: [dc01.contoso.com, dc02.contoso.com]
        transport: ldaps
        auth: simple
        username: svc@contoso.com
        password_env: ESB_DIR_PW
        ca_bundle: ca.pem
        tls_server_name: dc01.contoso.com
        timeout: 4
    """)
    assert config.port == 636 and config.ca_bundle == (tmp_path / "ca.pem").resolve()  # type: ignore[attr-defined]
    assert config.password == SECRET  # type: ignore[attr-defined]
    assert SECRET not in repr(config) and SECRET not in str(config)


@pytest.mark.parametrize(("block", "key", "words"), [
    ("servers: [dc01]\n", "directory.domain", "missing required key"),
    ("domain: contoso.com\ntransprot: ldaps\n", "directory.transprot", "did you mean 'transport'"),
    ("domain: contoso.com\nauth: simple\nusername: u\npassword_env: ESB_DIR_PW\n", "directory.auth",
     "in clear"),
    ("domain: contoso.com\nauth: ntlm\ntransport: ldaps\nusername: u\npassword_env: ESB_DIR_PW\n",
     "directory.auth", "not supported yet"),
    ("domain: contoso.com\nauth: ntlm\n", "directory.username", "needs a username"),
    ("domain: contoso.com\nusername: u\npassword_env: NOT_SET_ANYWHERE\n", "directory.password_env",
     "NOT_SET_ANYWHERE is not set"),
    ("domain: contoso.com\nservers: [dc01.contoso.com]\nusername: u\npassword: x\n", "directory.password",
     "only accepted for loopback"),
    ("domain: contoso.com\nca_bundle: nope.pem\n", "directory.ca_bundle", "not found"),
    ("domain: contoso.com\nport: 70000\n", "directory.port", "between 1 and 65535"),
    ("domain: contoso..com\n", "directory.domain", "not a DNS domain name"),
    ("domain: contoso.com\nservers: []\n", "directory.servers", "non-empty list"),
])
def test_mistakes_are_one_line_naming_the_key(tmp_path: Path, block: str, key: str, words: str) -> None:
    with pytest.raises(InventoryError) as caught:
        load(tmp_path, block)
    text = str(caught.value)
    assert f"pairs[0].{key}" in text and words in text and "\n" not in text and "fix:" in text


def test_without_a_block_the_pair_has_none(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_text(INVENTORY.replace("    directory:\n", ""), encoding="utf-8")
    assert load_inventory(path).pairs[0].directory is None


def test_the_example_documents_every_directory_key_with_its_default() -> None:
    text = (ROOT / "inventory" / "example.yml").read_text(encoding="utf-8")
    block = text[text.index("# directory:"):]
    documented = dict(re.findall(r"^\s*#   (\w+): (\S+)", block, flags=re.M))
    assert set(documented) == set(KNOWN_KEYS) - {"password_file", "password"}
    for name, default in DIRECTORY_DEFAULTS.items():
        if name not in ("servers", "username", "ca_bundle", "port"):  # shown by example, not by default
            shown = documented[name]
            assert shown == ("null" if default is None else str(default).removesuffix(".0")), name


# --- BER -------------------------------------------------------------------------------------------------


def test_ber_round_trip_and_long_lengths() -> None:
    payload = ber.sequence(ber.integer(7), ber.octets("x" * 300), ber.integer(-1), ber.boolean(True))
    element, end = ber.decode(payload)
    assert end == len(payload) and ber.message_size(payload) == len(payload)
    first, text, negative, flag = element.children
    assert (first.as_int(), len(text.value), negative.as_int(), flag.value) == (7, 300, -1, b"\xff")
    assert ber.integer(128) == b"\x02\x02\x00\x80"  # a leading zero keeps it positive
    with pytest.raises(DirectoryError):
        ber.decode(payload[:-1])


# --- security descriptors --------------------------------------------------------------------------------

USER = "bf967aba-0de6-11d0-a285-00aa003049e2"
RESET = "00299570-246d-11d0-a768-00aa006e0529"


def sid_bytes(sid: str) -> bytes:
    parts = [int(p) for p in sid.split("-")[1:]]
    return bytes([parts[0], len(parts) - 2]) + parts[1].to_bytes(6, "big") + b"".join(
        p.to_bytes(4, "little") for p in parts[2:])


def ace(kind: int, flags: int, mask: int, sid: str, obj: str | None = None, inh: str | None = None) -> bytes:
    body = struct.pack("<I", mask)
    if kind in (5, 6):
        present = (1 if obj else 0) | (2 if inh else 0)
        body += struct.pack("<I", present)
        body += uuid.UUID(obj).bytes_le if obj else b""
        body += uuid.UUID(inh).bytes_le if inh else b""
    body += sid_bytes(sid)
    return struct.pack("<BBH", kind, flags, 4 + len(body)) + body


def descriptor(*aces: bytes) -> bytes:
    acl_body = b"".join(aces)
    acl = struct.pack("<BBHHH", 4, 0, 8 + len(acl_body), len(aces), 0) + acl_body
    return struct.pack("<BBHIIII", 1, 0, 0x8004, 0, 0, 0, 20) + acl


def test_dacl_rights_guids_and_inheritance() -> None:
    sid = "S-1-5-21-1-2-3-1105"
    parsed = dacl(descriptor(
        ace(5, 0x0A, 0x100, sid, RESET, USER),  # CI|IO: inherit-only, to user objects
        ace(6, 0x00, 0x100, sid, RESET),  # this object only
        ace(0, 0x12, 0x20094, "S-1-1-0"),  # CI, inherited: GenericRead's bits
        ace(0, 0x06, 0x20, sid),  # CI|NP
        ace(0, 0x0E, 0x20, sid),  # CI|NP|IO
        ace(2, 0x00, 0x20, sid),  # a system-audit ACE type: not an access grant
    ))
    assert [(a.allow, a.inheritance) for a in parsed] == [
        (True, "Descendents"), (False, "None"), (True, "All"), (True, "SelfAndChildren"), (True, "Children")]
    first = parsed[0]
    assert (first.sid, first.rights, first.object_type, first.inherited_object_type) == (
        sid, ("ExtendedRight",), RESET, USER)
    assert parsed[1].inherited_object_type == "00000000-0000-0000-0000-000000000000"
    assert parsed[2].inherited and parsed[2].rights == ("ListChildren", "ReadProperty", "ListObject",
                                                        "ReadControl")


def test_a_descriptor_without_dacl_and_a_truncated_one() -> None:
    assert dacl(struct.pack("<BBHIIII", 1, 0, 0x8000, 0, 0, 0, 0)) == ()
    with pytest.raises(DirectoryError):
        dacl(descriptor(ace(0, 0, 0x20, "S-1-5-21-1-2-3-4"))[:-3])


# --- connector-account with directory facts (pure: the Samba DC end-to-end is in test_directory_samba) ------


def _directory_pair(*, no_aces: bool = False, expired: bool = False,
                    error: str | None = None) -> list[Finding]:
    """connector-account on aadc02 of the healthy pair, its accounts' facts read "over LDAP"."""
    pair = healthy_pair()
    accounts = []
    for host in ("aadc01", "aadc02"):
        conn = ad_connector(pair, host)
        permissions = conn.permissions
        expires = None
        if host == "aadc02":
            if no_aces:  # the DC shows the same objects, none with an ACE for the standby's account
                permissions = tuple(dataclasses.replace(o, aces=()) for o in permissions)
            if expired and pair.now_utc is not None:
                expires = pair.now_utc - timedelta(days=1)
        accounts.append(DirectoryAccount(conn.account_user or "", conn.account_domain, account=conn.account,
                                         permissions=permissions, account_expires_utc=expires,
                                         error=error if host == "aadc02" else None))
    pair = dataclasses.replace(pair, directory=DirectoryFacts("dc01", tuple(accounts)),
                               directory_configured=True)
    return run("connector-account", pair, "aadc02")


def test_directory_facts_replace_the_probes() -> None:
    assert _directory_pair() == []
    findings = _directory_pair(no_aces=True)
    assert findings and all("lacks" in f.message for f in findings)


def test_an_expired_account_and_an_unreadable_one() -> None:
    assert [f.message for f in _directory_pair(expired=True) if "expired on" in f.message]
    (finding,) = _directory_pair(error="the account's domain fabrikam is not the directory block's domain")
    assert "LDAP read from this host failed" in finding.message and "fabrikam" in finding.message


def test_a_password_typed_into_password_env_is_never_echoed(tmp_path: Path) -> None:
    typed = "Summer2026!x"
    with pytest.raises(InventoryError) as caught:
        load(tmp_path, f"domain: contoso.com\nusername: u\npassword_env: '{typed}'\n")
    assert typed not in str(caught.value) and "directory.password_env" in str(caught.value)


@pytest.mark.parametrize("content", ["first-line-secret\nsecond line\n", "first-line-secret"])
def test_the_password_file_gives_its_first_line_only(tmp_path: Path, content: str) -> None:
    (tmp_path / "pw.txt").write_text(content, encoding="utf-8")
    config = load(tmp_path, "domain: contoso.com\nusername: u\npassword_file: pw.txt\n")
    assert config.password == "first-line-secret"  # type: ignore[attr-defined]


def test_a_fifo_or_a_blank_password_file_is_one_line(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "blank.txt").write_text("   \nsecret-on-line-two\n", encoding="utf-8")
    for name in ("fifo", "blank.txt"):
        with pytest.raises(InventoryError) as caught:
            load(tmp_path, f"domain: contoso.com\nusername: u\npassword_file: {name}\n")
        text = str(caught.value)
        assert "directory.password_file" in text and "\n" not in text and "secret-on-line-two" not in text


# --- evidence: directory facts written and read back ------------------------------------------------------


def test_directory_facts_round_trip_through_evidence_data(tmp_path: Path) -> None:
    import json
    from datetime import UTC, datetime

    from entra_standby.directory.evidence import directory_from_data, directory_to_data
    from entra_standby.errors import EvidenceError
    from entra_standby.facts.model import AccountState, Ace, ObjectPermissions

    ace = Ace("CONTOSO\\MSOL_x", ("ExtendedRight",), "Allow", "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2",
              "00000000-0000-0000-0000-000000000000", "None", inherited=True)
    facts = DirectoryFacts(server="127.0.0.20", accounts=(
        DirectoryAccount("MSOL_x", "CONTOSO",
                         AccountState(True, "CN=MSOL_x,DC=c", "S-1-5-21-1-2-3-1105", True, False, False, True,
                                      datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
                         (ObjectPermissions("DC=c", "domain-root", (ace,)),),
                         account_expires_utc=datetime(2027, 1, 1, tzinfo=UTC),
                         groups=("S-1-5-21-1-2-3-513",)),
        DirectoryAccount("MSOL_gone", None, error="no such account")))
    data = json.loads(json.dumps(directory_to_data(facts)))
    assert directory_from_data(data, tmp_path / "directory.json") == facts
    data["accounts"][0]["permissions"][0]["aces"][0]["inherited"] = "yes"
    with pytest.raises(EvidenceError) as caught:
        directory_from_data(data, tmp_path / "directory.json")
    assert "accounts[0].permissions[0].aces[0].inherited" in str(caught.value) and "directory.json" in str(
        caught.value)


def test_a_failed_directory_read_replays_as_the_same_finding(tmp_path: Path) -> None:
    from entra_standby.evidence import load_evidence, write_evidence
    from entra_standby.facts.collection import FactError
    from entra_standby.gather import RunFacts

    pair = dataclasses.replace(healthy_pair(), directory_configured=True,
                               directory_error=FactError("directory", "auth", "127.0.0.20: bind failed"))
    live = RunFacts(collected_utc=pair.now_utc or NOW, pairs=(pair,), hosts={}, inventory_name="t",
                    source="live", tool_version="0")
    write_evidence(tmp_path, live)
    again = load_evidence(tmp_path).pairs[0]
    assert again.directory_configured and again.directory is None
    assert again.directory_error == pair.directory_error
