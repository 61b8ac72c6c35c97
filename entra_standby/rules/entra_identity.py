"""entra-connector-identity: the Entra connector authenticates the same way on every server, with its own
identity and a certificate that is not about to expire (probe-review §4 item 5; reference §11).

Application-based authentication (ABA) is the default from 2.5.3.0 and onboards itself from 2.5.74.0; a
server rolled back with Add-ADSyncAADServiceAccount (Microsoft's own fix for a cloned SyncMachineIdentifier
does this) authenticates with a Sync_* account instead. After a failover the standby's identity is the one
that exports, with its own permissions, rotation and sign-in policy ([ABA]).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from ..errors import FactUnavailableError
from ..facts.collection import HostFacts, PairFacts
from ._common import Reporter, aware, now_of
from .base import Finding, Severity, check
from .thresholds import threshold_int

_ABA = "https://learn.microsoft.com/entra/identity/hybrid/connect/authenticate-application-id"

IDENTITY_REMEDIATION = (
    "use one method on every server, normally application-based authentication: on the server that still "
    "uses a service account run the wizard's 'Configure application-based authentication to Microsoft Entra "
    "ID' (or, with Set-ADSyncScheduler -SyncCycleEnabled $false, Add-EntraApplicationRegistration and "
    "Add-ADSyncApplicationRegistration), check Get-ADSyncEntraConnectorCredential says Application, then "
    f"re-enable the scheduler ({_ABA})"
)

ROTATE_REMEDIATION = (
    "rotate the certificate now: Set-ADSyncScheduler -SyncCycleEnabled $false; "
    "Invoke-ADSyncApplicationCredentialRotation (BYOC/BYOA: with -CertificateSHA256Hash of the new "
    "certificate in LocalMachine\\My); Get-ADSyncEntraConnectorCredential; Set-ADSyncScheduler "
    "-SyncCycleEnabled $true. A Connect-managed certificate rotates by itself only while the scheduler "
    f"runs: find out why it did not ({_ABA}, 'On-demand certificate rotation')"
)


@dataclass(frozen=True)
class _Identity:
    host: str
    kind: str  # ServiceAccount | Application
    application_id: str | None
    account: str | None  # the Entra connector's UserName (the Sync_* account)
    thumbprint: str | None
    not_after: datetime | None


def _identity(server: HostFacts) -> _Identity:
    facts = server.connectors
    ident = facts.entra_identity
    if ident is None or ident.error is not None or not ident.identity_type:
        why = ("no entra_identity block in the connectors facts" if ident is None
               else ident.error or "Get-ADSyncEntraConnectorCredential gave no ConnectorIdentityType")
        raise FactUnavailableError(server.host, "connectors", f"Entra connector identity unreadable: {why}")
    application = ident.identity_type.lower() == "application"
    if application and ident.certificate_not_after is None:
        raise FactUnavailableError(
            server.host, "connectors",
            f"application certificate expiry unreadable: {ident.certificate_error or 'no expiry reported'}")
    account = next((c.account_user for c in facts.connectors
                    if c.type.upper() != "AD" and c.account_user), None)
    return _Identity(server.host, ident.identity_type, ident.application_id, account,
                     ident.certificate_thumbprint, ident.certificate_not_after if application else None)


def _label(pair: PairFacts, ident: _Identity) -> str:
    active = pair.active
    mark = " (active)" if active is not None and active.host == ident.host else ""
    if ident.kind.lower() == "application":
        detail = f"application {ident.application_id}" if ident.application_id else "application"
    else:
        detail = f"account {ident.account}" if ident.account else "service account"
    return f"{ident.host}{mark}: {ident.kind} ({detail})"


@check(
    "entra-connector-identity",
    title="the Entra connector authenticates the same way on every server, its certificate not expiring",
    severity=Severity.HIGH,
    scope="pair",
    remediation=IDENTITY_REMEDIATION,
    needs=("connectors",),
)
def entra_connector_identity(pair: PairFacts) -> Iterator[Finding]:
    report = Reporter("entra-connector-identity", pair)
    identities = [_identity(server) for server in pair.servers]
    warn_days = threshold_int(pair, "aba_certificate_warn_days")
    now = now_of(pair)
    if len({i.kind.lower() for i in identities}) > 1:
        yield report(
            "the servers authenticate to Entra ID differently "
            f"({', '.join(_label(pair, i) for i in identities)}): after a failover another kind of identity "
            "exports, with its own permissions, credential rotation and sign-in policy",
            values={"identity_types": {i.host: i.kind for i in identities}},
        )
    by_app: dict[str, list[str]] = {}
    for ident in identities:
        if ident.application_id:
            by_app.setdefault(ident.application_id.lower(), []).append(ident.host)
    for app, hosts in by_app.items():
        if len(hosts) > 1:
            yield report(
                f"{' and '.join(hosts)} use the same application {app}: each server needs its own "
                "(ConnectSyncProvisioning_<server>_<id>); a shared connector identity breaks "
                "application-based authentication (event 906, AADSTS700027), usually a cloned "
                "SyncMachineIdentifier",
                values={"application_id": app, "servers": hosts},
                remediation="give each server its own SyncMachineIdentifier and application: follow Learn's "
                f"ABA troubleshooting for cloned servers, then rotate the certificate on each ({_ABA})",
            )
    for ident in identities:
        if ident.not_after is None:
            continue
        days = (aware(ident.not_after) - now).total_seconds() / 86400
        cert = f"the application certificate{' ' + ident.thumbprint if ident.thumbprint else ''}"
        when = aware(ident.not_after).date().isoformat()
        values = {"server": ident.host, "thumbprint": ident.thumbprint, "not_after": when,
                  "days_left": round(days, 1)}
        if days <= 0:
            yield report(
                f"{ident.host}: {cert} expired on {when} ({round(-days)} days ago): the Entra connector "
                "cannot authenticate, nothing imports or exports (event 1012)",
                severity=Severity.CRITICAL, values=values,
                remediation=f"on {ident.host}: {ROTATE_REMEDIATION}",
            )
        elif days <= warn_days:
            yield report(
                f"{ident.host}: {cert} expires on {when}, in {round(days)} days (warning from {warn_days} "
                "days; Entra Connect warns from 150 with event 1011)",
                severity=Severity.MEDIUM, values=values,
                remediation=f"on {ident.host}: {ROTATE_REMEDIATION}",
            )
