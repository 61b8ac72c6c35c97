"""``EmbeddedDirectory``: run the lab directory's listeners and describe them as a ``directory:`` block.

One plain LDAP listener (SASL GSS-SPNEGO/NTLM, signed and sealed: what the lab inventory uses, as production
does by default) and one LDAPS listener (simple bind, the lab PKI's certificate), both on ephemeral ports of
one loopback address. The reader is a plain domain user of the model's domain with a fresh random password;
like the lab's other secrets it lives only in the inventory the lab writes (owner-only), never in output.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from ...errors import LabError
from ..directory_model import DirectoryModel
from ..pki import TlsMaterial
from ..serving import require_loopback, tls_server_context
from ..wire.auth import LabCredentials, NtlmUserStore
from .counters import DirectoryCounters
from .protocol import Session
from .server import Listener
from .tree import DirectoryTree, Reader

READER = "svc-entra-audit"  # the lab's directory reader (sAMAccountName)
_READER_RID = 4100


class EmbeddedDirectory:
    """The pair's directory on ``address`` (ephemeral ports): ``start``, ``stop``, ``inventory_block``."""

    def __init__(self, model: DirectoryModel, workdir: Path, tls: TlsMaterial, address: str) -> None:
        self.model = model
        self.address = require_loopback(address, "lab directory address")
        self._workdir = workdir
        self._tls = tls
        rids = {a.sid.rsplit("-", 1)[1] for a in model.accounts}
        rid = next(r for r in range(_READER_RID, _READER_RID + 1000) if str(r) not in rids)
        self.reader = Reader(READER, f"{model.domain_sid}-{rid}", f"CN={READER},CN=Users,{model.base_dn}")
        self.credentials = LabCredentials(username=f"{model.netbios}\\{READER}",
                                          password=secrets.token_urlsafe(18))
        self.dns_host = f"dc01.{model.domain}"
        self.tree = DirectoryTree(model, self.reader, self.dns_host)
        self.counters = DirectoryCounters()
        self._users = NtlmUserStore(self.credentials)
        self._ldap: Listener | None = None
        self._ldaps: Listener | None = None

    def _session(self, tls: bool) -> Session:
        session = Session(self.tree, self.credentials, self._users, tls=tls)
        session.on_request = self.counters.count
        return session

    def start(self) -> None:
        if self._ldap is not None:
            raise LabError("the lab directory is already running")
        self._users.open()
        try:
            self._ldap = Listener(self.address, self._session, name="ldap")
            self._ldaps = Listener(self.address, self._session, tls=tls_server_context(self._tls),
                                   name="ldaps")
            self._ldap.start()
            self._ldaps.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for listener in (self._ldap, self._ldaps):
            if listener is not None:
                listener.stop()
        self._ldap = self._ldaps = None
        self._users.close()

    def _running(self, listener: Listener | None) -> Listener:
        if listener is None:
            raise LabError("the lab directory is not running")
        return listener

    @property
    def port(self) -> int:
        """LDAP (SASL signed and sealed)."""
        return self._running(self._ldap).port

    @property
    def ldaps_port(self) -> int:
        """LDAPS (simple bind; the lab CA)."""
        return self._running(self._ldaps).port

    def inventory_block(self) -> dict[str, Any]:
        """The pair's ``directory:`` block (docs/contracts.md §8): NTLM through SASL, signed and sealed, on
        plain LDAP, reading as the lab's plain reader. The inline password is accepted for loopback DCs."""
        return {
            "domain": self.model.domain,
            "servers": [self.address],
            "port": self.port,
            "transport": "ldap",
            "auth": "ntlm",
            "username": self.credentials.username,
            "password": self.credentials.password,
            "timeout": 10,
        }

    def ldaps_block(self) -> dict[str, Any]:
        """The same directory over LDAPS with a simple bind (the other transport the tool offers)."""
        return {
            "domain": self.model.domain,
            "servers": [self.address],
            "port": self.ldaps_port,
            "transport": "ldaps",
            "auth": "simple",
            "username": f"{READER}@{self.model.domain}",
            "password": self.credentials.password,
            "ca_bundle": str(self._tls.ca_pem),
            "timeout": 10,
        }
