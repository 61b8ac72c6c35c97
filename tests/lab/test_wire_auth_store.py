"""The lab's NTLM user file holds the password's hashes, not the password, and logons stay per user.

The acceptor reads the LM/NT hashes from the file (smbpasswd form) instead of deriving them on every logon
(issue 13). These tests drive the lab's ``ConnectionAuth`` with a pyspnego initiator, in this process.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import spnego
import spnego._ntlm as spnego_ntlm
from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1

from entra_standby.lab.wire.auth import ConnectionAuth, LabCredentials, NtlmUserStore

CREDS = LabCredentials(username="LAB\\auditor", password="S3cret-Passw0rd")


@pytest.fixture
def store() -> Iterator[NtlmUserStore]:
    users = NtlmUserStore(CREDS)
    users.open()
    try:
        yield users
    finally:
        users.close()


def _logon(users: NtlmUserStore, creds: LabCredentials, username: str, password: str) -> bool:
    """One Negotiate/NTLM logon of ``username``/``password`` against a server of ``creds``."""
    client = spnego.client(username, password, hostname="lab", protocol="negotiate")
    auth = ConnectionAuth(creds, tls=False, allow_basic=False, cbt=None, users=users)
    token = client.step() or b""
    for _ in range(3):
        outcome = auth.authenticate("Negotiate " + base64.b64encode(token).decode(), force_fail=False)
        if outcome.ok:
            return True
        challenge = next((v for k, v in outcome.headers if k == "WWW-Authenticate"), "")
        if not challenge.startswith("Negotiate ") or outcome.headers == auth.challenge():
            return False  # refused: the server sent its offers again
        token = client.step(base64.b64decode(challenge.split(" ", 1)[1])) or b""
    return False


def test_the_user_file_has_the_nt_hash_pyspnego_derives_and_no_password_nor_lm_hash(
        store: NtlmUserStore) -> None:
    text = store.path.read_text(encoding="utf-8")
    assert CREDS.password not in text
    assert lmowfv1(CREDS.password).hex().upper() not in text  # none stored, as on Windows since 2008
    assert oct(store.path.stat().st_mode & 0o777) == oct(0o600)
    expected = (bytes(16), ntowfv1(CREDS.password))
    for domain, user in (("LAB", "auditor"), ("lab", "AUDITOR"), (None, "auditor"), (None, "auditor@LAB")):
        _domain, _user, lm_hash, nt_hash = spnego_ntlm._get_credential(str(store.path), domain, user)
        assert (lm_hash, nt_hash) == expected, (domain, user)
    with pytest.raises(spnego.exceptions.SpnegoError):
        spnego_ntlm._get_credential(str(store.path), "OTHER", "auditor")


@pytest.mark.parametrize("username", ["LAB\\auditor", "auditor", "auditor@LAB"])
def test_a_wrong_password_fails_after_a_right_one_and_the_right_one_still_works(store: NtlmUserStore,
                                                                                username: str) -> None:
    assert _logon(store, CREDS, username, CREDS.password)
    assert not _logon(store, CREDS, username, CREDS.password + "x")
    assert not _logon(store, CREDS, username, "")
    assert _logon(store, CREDS, username, CREDS.password)


def test_two_users_and_one_user_with_two_passwords_keep_their_own_hashes(store: NtlmUserStore) -> None:
    other = LabCredentials(username="OTHER\\operator", password="An0ther-secret")
    clash = LabCredentials(username="LAB\\auditor", password="different")
    with_other, with_clash = NtlmUserStore(other), NtlmUserStore(clash)
    with_other.open()
    with_clash.open()
    try:
        for _ in range(2):  # alternate, so a value kept from one logon would show in the next
            assert _logon(store, CREDS, "LAB\\auditor", CREDS.password)
            assert _logon(with_other, other, "OTHER\\operator", other.password)
            assert _logon(with_clash, clash, "LAB\\auditor", "different")
            assert not _logon(with_clash, clash, "LAB\\auditor", CREDS.password)
            assert not _logon(store, CREDS, "LAB\\auditor", "different")
            assert not _logon(with_other, other, "OTHER\\operator", CREDS.password)
            assert not _logon(store, CREDS, "OTHER\\operator", other.password)
    finally:
        with_other.close()
        with_clash.close()


def test_a_domain_with_a_backslash_keeps_the_password_form() -> None:
    odd = LabCredentials(username="auditor", password="S3cret", domain="A\\B")
    users = NtlmUserStore(odd)
    users.open()
    try:
        lines = users.path.read_text(encoding="utf-8").splitlines()
        assert lines[1] == "A\\B:auditor:S3cret"
        _domain, _user, _lm, nt_hash = spnego_ntlm._get_credential(str(users.path), "A\\B", "auditor")
        assert nt_hash == ntowfv1("S3cret")
    finally:
        users.close()
