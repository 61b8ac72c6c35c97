"""NTLM's LM hash derived only when read (issue 13): pyspnego's credential; NTLMv2 never derives it."""

from __future__ import annotations

from pathlib import Path

import pytest
import spnego
from spnego import _ntlm
from spnego._credential import NTLMHash, Password
from spnego._ntlm_raw.crypto import lmowfv1

from entra_standby import ntlm_lm

_FIELDS = ("_raw_username", "_store", "domain", "username", "nt_hash", "lm_hash")


@pytest.mark.parametrize("credential", [
    Password(username="CONTOSO\\svc-audit", password="Pässw0rd!"),
    Password(username="svc@contoso.com", password=""),
    NTLMHash(username="CONTOSO\\svc", lm_hash="0" * 32, nt_hash="A" * 32),
    NTLMHash(username="svc", nt_hash="B" * 32),
])
def test_the_lazy_credential_equals_pyspnegos_field_for_field(credential: object) -> None:
    """The tripwire for a pyspnego upgrade: every field pyspnego's ``_NTLMCredential`` sets is equal."""
    ours, theirs = ntlm_lm.LazyLMCredential(credential), ntlm_lm.original_credential(credential)
    assert set(vars(theirs)) == set(_FIELDS)  # pyspnego still sets exactly these
    for name in _FIELDS:
        assert getattr(ours, name) == getattr(theirs, name), name


def test_a_password_credential_derives_the_lm_hash_only_on_read() -> None:
    credential = ntlm_lm.LazyLMCredential(Password(username="u", password="secret"))
    assert credential._lm_hash is None and credential._password is not None
    assert credential.lm_hash == lmowfv1("secret")
    assert credential._password is None  # no reference kept once derived


def _handshake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    users = tmp_path / "ntlm-users"
    users.write_text("CONTOSO:svc:Passw0rd\n", encoding="utf-8")
    monkeypatch.setattr(_ntlm, "_get_credential_file", lambda: str(users))
    client = spnego.client("CONTOSO\\svc", "Passw0rd", protocol="ntlm")
    server = spnego.server(protocol="ntlm")
    token = client.step()
    while not client.complete:
        token = client.step(server.step(token))
    if not server.complete:
        server.step(token)
    assert client.complete and server.complete
    return client, server


def test_ntlmv2_completes_and_encrypts_without_ever_deriving_the_lm_hash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ntlm_lm.install()
    monkeypatch.delenv("LM_COMPAT_LEVEL", raising=False)
    client, server = _handshake(tmp_path, monkeypatch)
    credential = client._credential  # type: ignore[attr-defined]  # pyspnego internal
    assert isinstance(credential, ntlm_lm.LazyLMCredential) and credential._lm_hash is None
    assert server.unwrap(client.wrap(b"payload").data).data == b"payload"  # type: ignore[attr-defined]


def test_ntlmv1_still_gets_the_lm_hash_when_it_needs_it(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ntlm_lm.install()
    monkeypatch.setenv("LM_COMPAT_LEVEL", "1")
    client, server = _handshake(tmp_path, monkeypatch)
    credential = client._credential  # type: ignore[attr-defined]
    assert credential._lm_hash == lmowfv1("Passw0rd")
    assert server.unwrap(client.wrap(b"v1").data).data == b"v1"  # type: ignore[attr-defined]
