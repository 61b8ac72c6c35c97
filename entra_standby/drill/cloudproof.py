"""The tenant's side of the proof: did the export arrive? (Microsoft Graph, through the audit's cloud client.)

Two proofs, as reference §13.10 recommends: the tenant-wide ``onPremisesLastSyncDateTime`` moved past the
moment of the switch, and — stronger, because it names what was exported — a fresh nonce written to the
canary user on premises shows up in the tenant's copy of that user.
"""

from __future__ import annotations

from datetime import datetime

from ..cloud.client import CloudClient, client_for
from ..cloud.config import CloudConfig
from ..errors import CloudError

__all__ = ["CloudProof"]


def _when(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class CloudProof:
    """Reads of the tenant during a switch; each raises ``CloudError`` on failure (the caller retries)."""

    def __init__(self, config: CloudConfig, client: CloudClient | None = None) -> None:
        self.config = config
        self._client = client

    def _api(self) -> CloudClient:
        if self._client is None:
            self._client = client_for(self.config)
        return self._client

    @property
    def canary_user(self) -> str | None:
        return self.config.canary_user

    def last_sync(self) -> datetime | None:
        return _when(self._api().organization().get("onPremisesLastSyncDateTime"))

    def canary_value(self, attribute: str) -> str | None:
        upn = self.config.canary_user
        if upn is None:
            raise CloudError("no canary_user is configured", tenant_id=self.config.tenant_id)
        user = self._api().user(upn)
        if user is None:
            raise CloudError(f"the canary user {upn} does not exist in the tenant",
                             tenant_id=self.config.tenant_id, fix="create it on premises in a synced OU")
        attributes = user.get("onPremisesExtensionAttributes")
        if not isinstance(attributes, dict):
            return None
        value = attributes.get(attribute)
        return None if value is None else str(value)
