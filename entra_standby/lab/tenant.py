"""The simulated Entra tenant that the lab's servers export to and the Graph stand-in reads from."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class TenantUser:
    id: str
    user_principal_name: str
    on_premises_sync_enabled: bool = True
    on_premises_last_sync: datetime | None = None
    extension_attributes: dict[str, str | None] = field(default_factory=dict)  # extensionAttribute1..15


@dataclass
class CloudApp:
    """An app registration the Graph stand-in accepts (client credentials)."""

    client_id: str
    client_secret: str | None = None
    certificate_pem: bytes | None = None  # public certificate for private_key_jwt assertions
    roles: tuple[str, ...] = ("Organization.Read.All", "User.Read.All")


@dataclass
class SimulatedTenant:
    """Shared by every server of one lab. Mutations happen under ``lock``."""

    tenant_id: str
    domain: str = "contoso.onmicrosoft.com"
    display_name: str = "Contoso Lab"
    sync_enabled: bool | None = True
    last_sync: datetime | None = None
    last_password_sync: datetime | None = None
    last_exporter: str | None = None
    users: dict[str, TenantUser] = field(default_factory=dict)  # keyed by lower-case UPN
    apps: dict[str, CloudApp] = field(default_factory=dict)  # keyed by client_id
    export_log: list[tuple[datetime, str]] = field(default_factory=list)  # (when, server) per export
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def record_export(self, server: str, at: datetime,
                      canary_values: dict[str, dict[str, str | None]] | None = None) -> None:
        """An export from ``server`` reached the tenant: move the sync clocks and apply canary values."""
        with self.lock:
            self.last_sync = at
            self.last_password_sync = at
            self.last_exporter = server
            self.export_log.append((at, server))
            for upn, attributes in (canary_values or {}).items():
                user = self.users.get(upn.lower())
                if user is not None:
                    user.extension_attributes.update(attributes)
                    user.on_premises_last_sync = at

    def find_user(self, key: str) -> TenantUser | None:
        with self.lock:
            lowered = key.lower()
            if lowered in self.users:
                return self.users[lowered]
            return next((u for u in self.users.values() if u.id.lower() == lowered), None)
