"""The cloud's view of one pair: Graph's organization (and canary user) as ``CloudFacts``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import CloudError
from ..facts.model import CanaryFacts, CloudFacts
from .client import CloudClient, client_for
from .config import CloudConfig

FUTURE_ALLOWANCE = timedelta(days=1)
"""How far ahead of this machine's clock a Graph time may be (clock skew); the host facts use the same
default. A later time is not fresh, it is wrong: year 9999 would pass every freshness check forever."""


def _graph_time(value: Any, what: str, config: CloudConfig, now: datetime | None = None) -> datetime | None:
    """Graph's DateTimeOffset (``2026-01-01T10:00:00Z``) as an aware UTC datetime; None stays None.

    Dates before 2000 or more than ``FUTURE_ALLOWANCE`` ahead are refused like host dates (facts/parse.py).
    """
    if value is None:
        return None
    parsed: datetime | None = None
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            parsed = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (ValueError, OverflowError):
            parsed = None
    shown = repr(value) if isinstance(value, str) and len(value) <= 64 else type(value).__name__
    if parsed is None:
        raise CloudError(f"Graph returned {what}={shown}, not a date", tenant_id=config.tenant_id,
                         client_id=config.client_id, fix="check graph_url points at Microsoft Graph")
    reference = now or datetime.now(UTC)
    if parsed.year < 2000 or parsed > reference + FUTURE_ALLOWANCE:
        when = "before 2000" if parsed.year < 2000 else "in the future"
        raise CloudError(f"Graph returned {what}={shown}, an implausible date ({when})",
                         tenant_id=config.tenant_id, client_id=config.client_id,
                         fix="check this machine's clock and that graph_url points at Microsoft Graph")
    return parsed


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
