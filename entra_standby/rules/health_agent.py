"""connect-health-agent: the Connect Health sync agent runs on every server, alike (issue 16 point 4).

The agent's two sync services report sync errors and alerts to the Connect Health portal; a standby without
them goes unmonitored after a failover, and different agent versions report differently ([HEALTH]).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import FactUnavailableError
from ..facts.collection import HostFacts, PairFacts
from ..facts.model import HealthAgentService
from ._common import Reporter
from .base import Finding, Severity, check

_HEALTH = "https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-health-agent-install"

HEALTH_AGENT_REMEDIATION = (
    "install (or repair) the Microsoft Entra Connect Health agent for sync on the server and register it, "
    "then set AzureADConnectHealthSyncInsights and AzureADConnectHealthSyncMonitor to Automatic and start "
    "them (Set-Service -StartupType Automatic; Start-Service); keep the same agent version on every server "
    f"({_HEALTH})"
)


SERVICES = ("AzureADConnectHealthSyncInsights", "AzureADConnectHealthSyncMonitor")
"""The agent for sync's services ([HEALTH], "Connect Health for sync" service list)."""


def _services(server: HostFacts) -> tuple[HealthAgentService, ...]:
    agent = server.machine.health_agent
    if agent is None or agent.error is not None:
        why = agent.error if agent is not None else "no health agent block in the machine facts"
        raise FactUnavailableError(server.host, "machine", f"Connect Health agent unreadable: {why}")
    return agent.services


def _installed_nowhere(pair: PairFacts) -> str | None:
    """Connect Health needs Microsoft Entra ID P1 ([HEALTH]); a pair with the agent on no server at all is
    consistent and not this check's business. Only when every server's machine facts say so: an unreadable
    server keeps the check (it then errors with the reason)."""
    for server in pair.servers:
        if not server.has("machine"):
            return None
        agent = server.machine.health_agent
        if agent is None or agent.error is not None or any(s.exists for s in agent.services):
            return None
    return ("the Connect Health agent for sync is installed on no server of the pair (it needs Microsoft "
            "Entra ID P1); install it on every server to have sync alerts")


@check(
    "connect-health-agent",
    title="Connect Health sync agent services running and automatic on every server, same version",
    severity=Severity.MEDIUM,
    scope="pair",
    remediation=HEALTH_AGENT_REMEDIATION,
    needs=("machine",),
    skip_if=_installed_nowhere,
)
def connect_health_agent(pair: PairFacts) -> Iterator[Finding]:
    report = Reporter("connect-health-agent", pair)
    services = {server.host: _services(server) for server in pair.servers}
    versions: dict[str, str | None] = {}
    for host, listed in services.items():
        by_name = {s.name.lower(): s for s in listed}
        # A service the facts do not list is as missing as one listed with exists false.
        for service in (by_name.get(n.lower(), HealthAgentService(n)) for n in SERVICES):
            if not service.exists:
                problem = "is not installed"
            elif (service.state or "").lower() != "running" or (service.start_mode or "").lower() != "auto":
                problem = (f"is {service.state or 'in an unknown state'}, "
                           f"start mode {service.start_mode or 'unknown'}")
            else:
                problem = ""
            if problem:
                yield report(
                    f"{host}: Connect Health sync service {service.name} {problem} (expected Running, Auto)",
                    values={"server": host, "service": service.name, "exists": service.exists,
                            "state": service.state, "start_mode": service.start_mode},
                )
        found = sorted({s.version for s in listed if s.exists and s.version})
        versions[host] = found[0] if len(found) == 1 else (", ".join(found) or None)
    known = {v for v in versions.values() if v is not None}
    if len(known) > 1:
        active = pair.active
        listed_versions = ", ".join(f"{host}{' (active)' if active and host == active.host else ''}: "
                                    f"{version or 'not installed'}" for host, version in versions.items())
        yield report(
            f"Connect Health sync agent versions differ between the servers ({listed_versions})",
            severity=Severity.LOW,
            values={"versions": versions},
        )
