"""Test kit for the cloud side: a lab CA, a simulated tenant with one app, and a running ``CloudStandIn``.

    kit = CloudKit.start(tmp_path)            # stand-in on 127.0.0.1, tenant with app + canary user
    client, sleeps = kit.client()             # a fresh CloudClient (secret), waits recorded, not slept
    kit.stand_in.faults.set("token", "invalid_client")
    kit.stand_in.counters.count("token", method="POST")
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from entra_standby.cloud import CloudClient, CloudConfig, RetryPolicy
from entra_standby.lab.cloud import CloudStandIn
from entra_standby.lab.pki import TlsMaterial, create_client_certificate, create_lab_pki
from entra_standby.lab.tenant import CloudApp, SimulatedTenant, TenantUser

SECRET = "lab-Secret~" + "x" * 24  # distinctive, so a leak is easy to spot
CLIENT_ID = "3f1e2d4c-5b6a-4789-9abc-def012345678"
CANARY = "sync-canary@contoso.com"

# Short bounds: three attempts, no real sleeping (the recorder), a 2 s timeout for stalls.
FAST = RetryPolicy(attempts=3, backoff_s=0.5, max_backoff_s=2.0, max_retry_after_s=30.0, token_replay_s=5.0)


@dataclass
class CloudKit:
    directory: Path
    tls: TlsMaterial
    tenant: SimulatedTenant
    stand_in: CloudStandIn
    cert_path: Path  # the app's registered certificate (public)
    key_path: Path
    clients: list[CloudClient] = field(default_factory=list)

    @classmethod
    def start(cls, directory: Path, *, roles: tuple[str, ...] = ("Organization.Read.All", "User.Read.All"),
              last_sync_age: timedelta = timedelta(minutes=12)) -> CloudKit:
        tls = create_lab_pki(directory / "pki", ["127.0.0.1"])
        cert_path, key_path = create_client_certificate(directory / "pki", "entra-standby-app")
        now = datetime.now(UTC).replace(microsecond=0)
        tenant = SimulatedTenant(tenant_id=str(uuid.uuid4()), last_sync=now - last_sync_age,
                                 last_password_sync=now - last_sync_age)
        tenant.apps[CLIENT_ID] = CloudApp(CLIENT_ID, client_secret=SECRET,
                                          certificate_pem=cert_path.read_bytes(), roles=roles)
        tenant.users[CANARY] = TenantUser("9b1c1f6e-0000-4000-8000-00000000c0de", CANARY,
                                          on_premises_last_sync=now - timedelta(minutes=7),
                                          extension_attributes={"extensionAttribute1": "nonce-1"})
        stand_in = CloudStandIn(tenant, tls=tls).start()
        return cls(directory, tls, tenant, stand_in, cert_path, key_path)

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.stand_in.stop()

    @property
    def base_url(self) -> str:
        return self.stand_in.base_url

    def pem_with_key(self) -> Path:
        """One PEM file holding the app's private key and certificate (what certificate_path points at)."""
        path = self.directory / "app-credential.pem"
        if not path.exists():
            path.write_bytes(self.key_path.read_bytes() + self.cert_path.read_bytes())
        return path

    def config(self, **overrides: Any) -> CloudConfig:
        values: dict[str, Any] = {
            "tenant_id": self.tenant.tenant_id, "client_id": CLIENT_ID, "secret": SECRET,
            "authority_host": self.base_url, "graph_url": self.base_url, "ca_bundle": self.tls.ca_pem,
            "canary_user": CANARY, "timeout": 5.0, "credential_source": "inline",
        }
        values.update(overrides)
        return CloudConfig(**values)

    def client(self, config: CloudConfig | None = None, *, retry: RetryPolicy = FAST
               ) -> tuple[CloudClient, list[float]]:
        """A fresh client (fresh msal app: no replay memory shared between tests) and its recorded waits."""
        sleeps: list[float] = []
        client = CloudClient(config or self.config(), retry=retry, sleep=sleeps.append)
        self.clients.append(client)
        return client, sleeps
