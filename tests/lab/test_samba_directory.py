"""SambaDirectory without a DC: the seed it hands Samba (ACEs as SDDL, SPNs, accounts) and its refusals.

The DC itself is exercised by test_directory_conformance_samba.py (root and Debian's samba packages).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from entra_standby.directory.sd import RawAce
from entra_standby.errors import LabError
from entra_standby.lab import Lab, samba_dc, samba_directory
from entra_standby.lab.directory_model import DirectoryModel, ModelAce, directory_model
from entra_standby.lab.samba_directory import (
    LabHost,
    Login,
    SambaDirectory,
    sddl_ace,
    seed_input,
    service_principals,
)

SID = "S-1-5-21-1004336348-1177238915-682003330-34717"
REPL = "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2"
USER = "bf967aba-0de6-11d0-a285-00aa003049e2"
ZERO = "00000000-0000-0000-0000-000000000000"


def model() -> DirectoryModel:
    with Lab("fixtures/scenarios/standby-drifted.yml", serve=False) as lab:
        return directory_model([s.state for s in lab.servers.values()])


@pytest.mark.parametrize(("inheritance", "flags"), [
    ("None", 0x00), ("All", 0x02), ("Descendents", 0x0A), ("SelfAndChildren", 0x06), ("Children", 0x0E)])
def test_each_inheritance_maps_to_the_ace_flags_sd_py_reads_back(inheritance: str, flags: int) -> None:
    text = sddl_ace(ModelAce(True, SID, ("ReadProperty", "WriteProperty"), REPL, USER, inheritance))
    kind, sddl_flags, mask, object_type, inherited, trustee = text.strip("()").split(";")
    assert (kind, mask, object_type, inherited, trustee) == ("OA", "0x30", REPL, USER, SID)
    # the reader's parser names these flags back as the model's inheritance
    assert RawAce(SID, True, 0x30, flags).inheritance == inheritance
    assert sddl_flags == {0x00: "", 0x02: "CI", 0x0A: "CIIO", 0x06: "CINP", 0x0E: "CINPIO"}[flags]


def test_a_deny_and_a_plain_ace() -> None:
    deny = ModelAce(False, SID, ("ExtendedRight",), REPL, ZERO, "None")
    assert sddl_ace(deny) == f"(OD;;0x100;{REPL};;{SID})"
    assert sddl_ace(ModelAce(True, SID, ("GenericAll",), ZERO, ZERO, "All")) == f"(A;CI;0x10000000;;;{SID})"


def test_an_unknown_right_or_inheritance_is_refused() -> None:
    with pytest.raises(LabError, match="'Fly'"):
        sddl_ace(ModelAce(True, SID, ("Fly",), ZERO, ZERO, "None"))
    with pytest.raises(LabError, match="'Sideways'"):
        sddl_ace(ModelAce(True, SID, ("ReadProperty",), ZERO, ZERO, "Sideways"))


def test_the_seed_holds_the_scenario_and_the_lab_users(tmp_path: Path) -> None:
    m = model()
    hosts = [LabHost("aadc01", "127.0.0.11"), LabHost("aadc02", "127.0.0.12")]
    seed = seed_input(m, reader_password="R-1aA", hosts=hosts, login=Login("auditor", "L-1aA"),
                      keytab=tmp_path / "k.keytab", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert seed["ous"][0].startswith("OU=") and set(seed["ous"]) == {
        c.dn for c in m.containers if c.kind == "ou"}
    assert {a["sid"] for a in seed["accounts"]} == {a.sid for a in m.accounts}
    # 2026-01-01 as a FILETIME: 100 ns ticks since 1601 (1767225600 s Unix + 11644473600 s between epochs)
    assert seed["now_filetime"] == (1767225600 + 11644473600) * 10_000_000
    root = seed["aces"][m.base_dn]
    assert len(root) == len(m.container(m.base_dn).aces)  # type: ignore[union-attr]
    assert [u["sam"] for u in seed["users"]] == ["entra-reader", "auditor", "svc-winrm"]
    spns = seed["users"][2]["spns"]
    # one keytab entry: the acceptor (no name of its own) takes any key in the keytab, the SPNs share it
    assert seed["keytab_principals"] == ["svc-winrm@CONTOSO.COM"]
    # pypsrp asks for host/<address> by default; HTTP/ and WSMAN/ cover spn_service and Windows' own name
    for name in ("aadc02", "aadc02.contoso.com", "127.0.0.12"):
        assert {f"HTTP/{name}", f"WSMAN/{name}", f"host/{name}"} <= set(spns)
    assert len(set(a["password"] for a in seed["accounts"])) == 2  # random, one per account


def test_service_principals_are_unique() -> None:
    spns = service_principals("contoso.com", [LabHost("a", "127.0.0.11"), LabHost("a", "127.0.0.11")])
    assert len(spns) == len(set(spns)) == 9


def test_without_root_start_is_one_line_naming_install_samba(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    directory = SambaDirectory(model(), tmp_path)
    with pytest.raises(LabError) as caught:
        directory.start()
    text = str(caught.value)
    assert "\n" not in text and "root" in text and "scripts/install-samba" in text
    assert not directory.running and list(tmp_path.iterdir()) == []
    assert samba_dc.unavailable() is not None


def test_the_block_needs_a_running_dc_and_the_password_never_shows(tmp_path: Path) -> None:
    directory = SambaDirectory(model(), tmp_path, login=Login("auditor", "Secret-1aA"))
    with pytest.raises(LabError, match="must be running"):
        directory.inventory_block()
    assert "Secret-1aA" not in repr(directory) and "Secret-1aA" not in repr(directory.login)
    assert directory.realm == "CONTOSO.COM" and directory.dc_host == "dc1.contoso.com"


def test_the_kerberos_connection_names_the_lab_user_in_the_realm(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="login"):
        SambaDirectory(model(), tmp_path).kerberos_connection()
    keys = SambaDirectory(model(), tmp_path, login=Login("auditor", "Secret-1aA")).kerberos_connection()
    assert keys == {"auth": "kerberos", "username": "auditor@CONTOSO.COM",
                    "krb5_config": str(tmp_path / "krb5.conf")}


def test_address_none_takes_the_first_address_no_other_dc_holds(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # addresses of this test's own (outside the lab's range: other test processes' DCs take those)
    candidates = ("127.0.0.197", "127.0.0.198")
    monkeypatch.setattr(samba_directory, "AUTO_ADDRESSES", candidates)
    first, second = SambaDirectory(model(), tmp_path, None), SambaDirectory(model(), tmp_path, None)
    try:
        first._take_address()
        second._take_address()
        assert (first.address, second.address) == candidates
        with pytest.raises(LabError) as caught:
            SambaDirectory(model(), tmp_path, None)._take_address()
        assert "127.0.0.197-198: another lab's Samba DC is running there" in str(caught.value)
        first.stop()  # releases its address for the next
        third = SambaDirectory(model(), tmp_path, None)
        third._take_address()
        assert third.address == candidates[0]
        third.stop()
    finally:
        first.stop()
        second.stop()
