"""NTLM without the LM hash it never uses (issue 13): pyspnego's credential computes it only when asked.

pyspnego's NTLM initiator derives BOTH password hashes when a context starts (``_NTLMCredential``):
``ntowfv1`` (MD4, fast) and ``lmowfv1`` (DES in pure Python: about 1.4 ms of CPU, 3% of the client's CPU
per audited host). Only NTLMv1 (``LM_COMPAT_LEVEL`` < 3, never this harness's default), the acceptor side
and ``NTLMProxy.new_context`` read the LM hash; NTLMv2 (``compute_response_v2``) never does. So the
credential built here computes it on first read instead, from the same ``Password`` object pyspnego already
holds for the context's lifetime: nothing new is kept (no copy of the password, no process-wide cache of
password-derived values: such a cache would be a secret at rest in memory, outliving every session), and
a reader of ``lm_hash`` gets exactly the bytes pyspnego would have computed.

This replaces ``spnego._ntlm._NTLMCredential`` (a pyspnego internal, 0.12) for the process, once, when
``install()`` is called (``remoting`` does, at import). ``tests/test_ntlm_lm.py`` pins that every attribute
equals pyspnego's own credential for each kind of credential it accepts (its tripwire for an upgrade), and
the NTLM tests against the lab prove the handshake and message encryption still work.
"""

from __future__ import annotations

import threading
from typing import Any

from spnego import _ntlm
from spnego._context import split_username
from spnego._credential import Password
from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1

__all__ = ["install"]

_ORIGINAL = _ntlm._NTLMCredential
_lock = threading.Lock()


class LazyLMCredential(_ORIGINAL):
    """pyspnego's ``_NTLMCredential``, but a password's LM hash is derived on first read, not up front."""

    def __init__(self, credential: Any = None) -> None:
        if not isinstance(credential, Password):
            super().__init__(credential)  # hashes or the credential file: no DES to skip
            return
        # As pyspnego's Password branch, minus lmowfv1.
        self._raw_username = credential.username
        self._store = "explicit"
        self.domain, self.username = split_username(credential.username)
        self.nt_hash = ntowfv1(credential.password)
        self._password: Password | None = credential
        self._lm_hash: bytes | None = None

    @property
    def lm_hash(self) -> bytes:
        if self._lm_hash is None:
            source = getattr(self, "_password", None)
            self._lm_hash = lmowfv1(source.password) if source is not None else b"\x00" * 16
            self._password = None  # derived: the reference is no longer needed
        return self._lm_hash

    @lm_hash.setter
    def lm_hash(self, value: bytes) -> None:
        self._lm_hash = value
        self._password = None


def install() -> None:
    """Use ``LazyLMCredential`` for every NTLM context this process starts (idempotent)."""
    with _lock:
        _ntlm._NTLMCredential = LazyLMCredential  # type: ignore[misc]  # replacing pyspnego's class


def original_credential(credential: Any) -> Any:
    """pyspnego's own credential for ``credential`` (for the pin test)."""
    return _ORIGINAL(credential)

