"""Kerberos to WinRM: the inventory's Kerberos keys, and each Kerberos failure as one line with its fix.

The failures are produced by the real Samba KDC on 127.0.0.20 (tests/sambadc.py, shared with the directory
tests) against the lab's WinRM servers, whose pyspnego acceptor takes tickets with the DC's keytab.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sambadc
import yaml
from sambadc import PASSWORD, REALM, RunningDC
from spine_helpers import SCENARIOS

from entra_standby.errors import AuthenticationFailedError, HostError, InventoryError
from entra_standby.inventory import CONNECTION_DEFAULTS, ServerEntry, inventory_from_dict
from entra_standby.lab import Lab
from entra_standby.remoting import HostSession, translate_error

ROOT = Path(__file__).resolve().parents[1]


# --- inventory: the Kerberos keys, validated at load --------------------------------------------------------


def load(tmp_path: Path, **connection: Any) -> ServerEntry:
    raw = {"pairs": [{"name": "p", "connection": {"ssl": False, **connection},
                      "servers": [{"host": "aadc01.contoso.com", "role": "active"},
                                  {"host": "10.0.0.2", "role": "standby"}]}]}
    return inventory_from_dict(raw, path=tmp_path / "inventory.yml").pairs[0].servers[1]


def refused(tmp_path: Path, **connection: Any) -> str:
    with pytest.raises(InventoryError) as caught:
        load(tmp_path, **connection)
    text = str(caught.value)
    assert "\n" not in text and "inventory.yml" in text
    return text


def test_kerberos_keys_load_and_a_bare_username_gets_the_realm(tmp_path: Path) -> None:
    (tmp_path / "krb5.conf").write_text("[libdefaults]\n")
    (tmp_path / "audit.keytab").write_bytes(b"\x05\x02")
    server = load(tmp_path, auth="kerberos", username="svc-audit", realm="contoso.com",
                  krb5_config="krb5.conf", keytab="audit.keytab", spn_host="aadc02.contoso.com",
                  spn_service="HTTP")
    s = server.connection
    assert (s.realm, s.principal, s.spn_host, s.spn_service) == ("CONTOSO.COM", "svc-audit@CONTOSO.COM",
                                                                 "aadc02.contoso.com", "HTTP")
    assert s.krb5_config == str(tmp_path / "krb5.conf") and s.keytab == str(tmp_path / "audit.keytab")
    # auth kerberos with neither password nor keytab: the ticket cache (kinit) is used, no error
    assert load(tmp_path, auth="kerberos").connection.principal is None


@pytest.mark.parametrize(("connection", "key", "words"), [
    ({"auth": "kerberos", "username": "CONTOSO\\svc"}, "connection.username", "user@REALM"),
    ({"auth": "ntlm", "username": "u", "password_env": "HOME", "realm": "C.COM"}, "connection.realm",
     "auth: kerberos"),
    ({"auth": "kerberos", "username": "u", "keytab": "missing.keytab"}, "connection.keytab", "not found"),
    ({"auth": "kerberos", "username": "u", "krb5_config": "no.conf"}, "connection.krb5_config", "not found"),
    ({"auth": "kerberos", "realm": "contoso com"}, "connection.realm", "CONTOSO.COM"),
    ({"auth": "kerberos", "spn_host": "HTTP/aadc01"}, "connection.spn_host", "one part of an SPN"),
    ({"auth": "kerberos", "password_env": "HOME"}, "connection.username", "no username"),
])
def test_kerberos_mistakes_are_one_line_naming_the_key(tmp_path: Path, connection: dict[str, Any], key: str,
                                                       words: str) -> None:
    text = refused(tmp_path, **connection)
    assert key in text and words in text


def test_a_keytab_excludes_a_password_and_needs_auth_kerberos(tmp_path: Path) -> None:
    (tmp_path / "a.keytab").write_bytes(b"\x05\x02")
    text = refused(tmp_path, auth="kerberos", username="u@C.COM", keytab="a.keytab", password_env="HOME")
    assert "connection.keytab" in text and "keep one" in text
    text = refused(tmp_path, auth="negotiate", username="u@C.COM", keytab="a.keytab", password_env="HOME")
    assert "auth: kerberos" in text


def test_one_krb5_config_per_inventory(tmp_path: Path) -> None:
    for name in ("a.conf", "b.conf"):
        (tmp_path / name).write_text("[libdefaults]\n")
    raw = {"pairs": [{"name": "p", "connection": {"ssl": False, "auth": "kerberos", "krb5_config": "a.conf"},
                      "servers": [{"host": "aadc01.contoso.com", "role": "active"},
                                  {"host": "aadc02.contoso.com", "role": "standby",
                                   "connection": {"krb5_config": "b.conf"}}]}]}
    with pytest.raises(InventoryError) as caught:
        inventory_from_dict(raw, path=tmp_path / "inventory.yml")
    assert "servers[1].connection.krb5_config" in str(caught.value) and "one per process" in str(caught.value)


def test_the_example_documents_every_connection_key() -> None:
    text = (ROOT / "inventory" / "example.yml").read_text(encoding="utf-8")
    block = yaml.safe_load(text)["defaults"]["connection"]
    missing = [k for k in CONNECTION_DEFAULTS if k not in block and f"# {k}:" not in text]
    assert missing == []


def test_a_clock_skew_message_is_named() -> None:
    # MIT's message as the krb5 package raises it (the real KDC's answer: test_clock_skew_against_the_kdc)
    class Krb5Error(Exception):
        pass

    Krb5Error.__module__ = "krb5._exceptions"
    error = translate_error("10.0.0.2", Krb5Error("Clock skew too great -1765328347"))
    assert error.kind == "auth" and "clock skew" in error.reason and "time" in (error.fix or "")


def test_kerberos_without_the_extra_names_it() -> None:
    # pyspnego's GSSAPIProxy raises this when gssapi is not importable (spnego/_gss.py)
    cause = ImportError("GSSAPIProxy requires the Python gssapi library: No module named 'gssapi'")
    error = translate_error("10.0.0.2", cause)
    assert error.kind == "auth" and "[kerberos]" in (error.fix or "")


# --- against the Samba KDC ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dc() -> Iterator[RunningDC]:
    try:
        import gssapi  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must run the Kerberos tests: scripts/test installs the kerberos extra")
        pytest.skip("the kerberos extra (gssapi) is not installed")
    try:
        running = sambadc.acquire()
    except sambadc.SambaUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Kerberos tests: {exc}")
        pytest.skip(str(exc))
    yield running
    sambadc.release()


@pytest.fixture(scope="module")
def kdc_lab(dc: RunningDC, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    """One lab whose domain is the realm (the lab's user is the ticket's client), and a scratch directory."""
    tmp = tmp_path_factory.mktemp("kerberos")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KRB5_CONFIG", str(dc.krb5_conf))
        env.setenv("KRB5_KTNAME", f"FILE:{dc.keytab}")  # the lab's acceptor: keys of its WinRM services
        env.setenv("KRB5CCNAME", f"FILE:{tmp / 'empty-ccache'}")  # no ticket unless a test gets one
        scenario = yaml.safe_load((SCENARIOS / "healthy-pair.yml").read_text(encoding="utf-8"))
        scenario.setdefault("lab", {})["domain"] = REALM
        with Lab(scenario, cloud=False, directory="none") as lab:  # Kerberos to WinRM only, as before
            yield lab.inventory_dict(), tmp


def standby(kdc_lab: tuple[dict[str, Any], Path], **connection: Any) -> ServerEntry:
    base, tmp = kdc_lab
    raw = yaml.safe_load(yaml.safe_dump(base))
    conn = raw["pairs"][0]["connection"]
    for key in ("username", "password"):
        conn.pop(key, None)
    conn.update(connection)
    server = inventory_from_dict(raw, path=tmp / "inventory.yml").pairs[0].servers[1]
    assert server.host == "127.0.0.12"
    return server


def connect(server: ServerEntry) -> HostError | None:
    try:
        with HostSession(server) as session:
            session.open()
    except HostError as exc:
        return exc
    return None


def failure(server: ServerEntry) -> HostError:
    error = connect(server)
    assert error is not None
    assert "\n" not in str(error) and PASSWORD not in str(error) and "Wrong-Pa55" not in str(error)
    return error


def test_kerberos_with_realm_and_spn_host(kdc_lab: tuple[dict[str, Any], Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    trace = kdc_lab[1] / "trace-spn.log"
    monkeypatch.setenv("KRB5_TRACE", str(trace))
    # addressed by IP, named by its SPN: the ticket is for host/aadc02.contoso.test, not for the address
    assert connect(standby(kdc_lab, auth="kerberos", username="auditor", realm="contoso.test",
                           password=PASSWORD, spn_host="aadc02.contoso.test")) is None
    assert "for desired service host/aadc02.contoso.test@" in trace.read_text()
    assert connect(standby(kdc_lab, auth="kerberos", username="auditor", realm="contoso.test",
                           password=PASSWORD, spn_host="aadc02.contoso.test", spn_service="HTTP")) is None
    assert "for desired service HTTP/aadc02.contoso.test@" in trace.read_text()


def test_negotiate_prefers_kerberos_when_the_realm_has_a_kdc(kdc_lab: tuple[dict[str, Any], Path],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    trace = kdc_lab[1] / "trace-negotiate.log"
    monkeypatch.setenv("KRB5_TRACE", str(trace))
    assert connect(standby(kdc_lab, auth="negotiate", username="auditor", realm=REALM,
                           password=PASSWORD)) is None
    assert "Received creds for desired service" in trace.read_text()  # a service ticket: Kerberos, not NTLM


def test_a_keytab_gets_the_ticket_without_a_password(dc: RunningDC,
                                                     kdc_lab: tuple[dict[str, Any], Path]) -> None:
    keytab = kdc_lab[1] / "auditor.keytab"
    subprocess.run(["samba-tool", "domain", "exportkeytab", str(keytab), f"--principal=auditor@{REALM}",
                    "-s", str(dc.run_dir / "etc" / "smb.conf")], check=True, capture_output=True, timeout=60)
    server = standby(kdc_lab, auth="kerberos", username="auditor", realm=REALM, keytab=str(keytab))
    assert connect(server) is None


def test_a_wrong_password_is_an_auth_failure_with_a_fix(kdc_lab: tuple[dict[str, Any], Path]) -> None:
    error = failure(standby(kdc_lab, auth="kerberos", username=f"auditor@{REALM}", password="Wrong-Pa55!"))
    assert isinstance(error, AuthenticationFailedError) and error.kind == "auth"
    assert "pre-authentication failed" in error.reason and f"auditor@{REALM}" in error.reason
    assert error.fix is not None and "password" in error.fix


def test_an_unknown_user(kdc_lab: tuple[dict[str, Any], Path]) -> None:
    error = failure(standby(kdc_lab, auth="kerberos", username=f"nobody@{REALM}", password=PASSWORD))
    assert error.kind == "auth" and "does not know the user" in error.reason


def test_no_ticket_and_no_password(kdc_lab: tuple[dict[str, Any], Path]) -> None:
    error = failure(standby(kdc_lab, auth="kerberos", username=f"auditor@{REALM}"))
    assert error.kind == "auth" and "no ticket" in error.reason and "kinit" in (error.fix or "")
    error = failure(standby(kdc_lab, auth="kerberos"))  # no username either: the default cache is empty
    assert error.kind == "auth" and "no ticket" in error.reason


def test_an_unknown_spn_names_spn_host(kdc_lab: tuple[dict[str, Any], Path]) -> None:
    error = failure(standby(kdc_lab, auth="kerberos", username=f"auditor@{REALM}", password=PASSWORD,
                            spn_host="nosuch.contoso.test"))
    assert error.kind == "auth" and "unknown SPN" in error.reason
    assert "host/nosuch.contoso.test" in error.reason
    assert "spn_host" in (error.fix or "")


def test_an_unreachable_kdc(dc: RunningDC, kdc_lab: tuple[dict[str, Any], Path]) -> None:
    # the same realm, its KDC on a loopback address where nothing listens
    conf = kdc_lab[1] / "no-kdc.conf"
    conf.write_text(dc.krb5_conf.read_text(encoding="utf-8").replace(f"kdc = {dc.ip}", "kdc = 127.0.0.29"),
                    encoding="utf-8")
    before = os.environ["KRB5_CONFIG"]
    try:
        error = failure(standby(kdc_lab, auth="kerberos", username=f"auditor@{REALM}", password=PASSWORD,
                                krb5_config=str(conf)))
    finally:
        os.environ["KRB5_CONFIG"] = before  # the inventory's krb5_config is process-wide by design
    assert error.kind == "auth" and "no KDC answered" in error.reason and "krb5_config" in (error.fix or "")


def test_clock_skew_against_the_kdc(dc: RunningDC, kdc_lab: tuple[dict[str, Any], Path],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # MIT keeps the client's offset to the KDC's clock in the ccache header (tag 1, kdc_timesync): a ticket
    # cache whose offset says +1 h makes this client's requests an hour off, and the KDC refuses them.
    if shutil.which("kinit") is None:
        pytest.skip("kinit (krb5-user) is not installed: scripts/install-samba installs it")
    ccache = kdc_lab[1] / "skewed-ccache"
    env = {**os.environ, "KRB5_CONFIG": str(dc.krb5_conf), "KRB5CCNAME": f"FILE:{ccache}"}
    subprocess.run(["kinit", f"auditor@{REALM}"], input=PASSWORD + "\n", text=True, env=env, check=True,
                   capture_output=True, timeout=30)
    data = bytearray(ccache.read_bytes())
    version, header_len = struct.unpack(">HH", data[:4])
    tag, _, seconds = struct.unpack(">HHi", data[4:12])
    assert (version, tag) == (0x0504, 1) and header_len >= 12, "not an MIT v4 ccache with a time offset"
    data[8:12] = struct.pack(">i", seconds + 3600)
    ccache.write_bytes(bytes(data))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{ccache}")
    error = failure(standby(kdc_lab, auth="kerberos", username=f"auditor@{REALM}"))
    assert error.kind == "auth" and "clock skew" in error.reason and "time" in (error.fix or "")
