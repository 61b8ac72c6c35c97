"""The cloud's view of one pair: Graph's organization (and canary user) as ``CloudFacts``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..errors import CloudError
from ..facts.model import CanaryFacts, CloudFacts
from .client import CloudClient, client_for
from .config import CloudConfig


def _graph_time(value: Any, what: str, config: CloudConfig) -> datetime | None:
    """Graph's DateTimeOffset (``2026-01-01T10:00:00Z``) as an aware UTC datetime; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise CloudError(f"Graph returned {what}={value!r}, not a date", tenant_id=config.tenant_id,
                     client_id=config.client_id, fix="check graph_url points at Microsoft Graph")


def _sync_enabled(value: Any, config: CloudConfig) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise CloudError(f"Graph returned onPremisesSyncEnabled={value!r}, not a boolean",
                     tenant_id=config.tenant_id, client_id=config.client_id,
                     fix="check graph_url points at Microsoft Graph")


def _canary(client: CloudClient, upn: str) -> CanaryFacts:
    user = client.user(upn)
    if user is None:
        return CanaryFacts(user=upn, found=False)
    raw_attributes = user.get("onPremisesExtensionAttributes")
    attributes = ({str(k): (None if v is None else str(v)) for k, v in raw_attributes.items()}
                  if isinstance(raw_attributes, dict) else {})
    return CanaryFacts(user=str(user.get("userPrincipalName") or upn), found=True,
                       on_premises_last_sync=_graph_time(user.get("onPremisesLastSyncDateTime"),
                                                         "user onPremisesLastSyncDateTime", client.config),
                       extension_attributes=attributes)


def gather_cloud(config: CloudConfig, *, client: CloudClient | None = None) -> CloudFacts:
    """Read the tenant's sync status (and the canary user, if configured) from Microsoft Graph.

    :param client: defaults to the run's cached client for ``config`` (one token per run).
    :raises CloudError: one line naming tenant, client and the cause (AADSTS code, missing permission, ...).
    """
    client = client or client_for(config)
    organization = client.organization()
    beta = client.beta_organization()
    last_password_sync = (_graph_time(beta.get("onPremisesLastPasswordSyncDateTime"),
                                      "onPremisesLastPasswordSyncDateTime", config) if beta else None)
    return CloudFacts(
        tenant_id=str(organization.get("id") or config.tenant_id),
        sync_enabled=_sync_enabled(organization.get("onPremisesSyncEnabled"), config),
        last_sync=_graph_time(organization.get("onPremisesLastSyncDateTime"),
                              "onPremisesLastSyncDateTime", config),
        last_password_sync=last_password_sync,
        canary=_canary(client, config.canary_user) if config.canary_user else None,
        collected_utc=datetime.now(UTC),
    )
