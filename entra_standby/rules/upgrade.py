"""auto-upgrade: automatic upgrade in the same state on every server of the pair (probe-review §4 item 9).

Automatic upgrade on one server only is how version skew between active and standby starts; a Suspended server
no longer upgrades at all, and Get-ADSyncAutoUpgrade -Detail says why ([AUTO]).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import FactUnavailableError
from ..facts.collection import PairFacts
from ._common import Reporter
from .base import Finding, Severity, check

_AUTO = "https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-install-automatic-upgrade"

AUTO_UPGRADE_REMEDIATION = (
    "choose one policy for the pair and set it on every server: Set-ADSyncAutoUpgrade -AutoUpgradeState "
    "Enabled (or Disabled, and upgrade both servers by hand, standby first); a Suspended server: read "
    "Get-ADSyncAutoUpgrade -Detail, fix the reason, then Set-ADSyncAutoUpgrade -AutoUpgradeState Enabled "
    f"({_AUTO})"
)


@check(
    "auto-upgrade",
    title="automatic upgrade in the same state on every server, none suspended",
    severity=Severity.MEDIUM,
    scope="pair",
    remediation=AUTO_UPGRADE_REMEDIATION,
    needs=("version",),
)
def auto_upgrade(pair: PairFacts) -> Iterator[Finding]:
    report = Reporter("auto-upgrade", pair)
    states: dict[str, str] = {}
    for server in pair.servers:
        version = server.version
        if version.auto_upgrade is None:
            # The version probe answered but Get-ADSyncAutoUpgrade did not: no verdict rather than "equal".
            why = version.auto_upgrade_error or "Get-ADSyncAutoUpgrade returned nothing"
            raise FactUnavailableError(server.host, "version", f"auto-upgrade state unreadable: {why}")
        states[server.host] = version.auto_upgrade
    for server in pair.servers:
        version = server.version
        if (version.auto_upgrade or "").lower() == "suspended":
            reason = version.auto_upgrade_reason
            yield report(
                f"{server.host}: automatic upgrade is Suspended "
                f"({'reason ' + reason if reason else 'Get-ADSyncAutoUpgrade -Detail gave no reason'}): "
                "this server no longer upgrades itself",
                values={"server": server.host, "auto_upgrade": version.auto_upgrade,
                        "suspension_reason": reason},
                remediation=f"on {server.host}: fix what Get-ADSyncAutoUpgrade -Detail names "
                f"({reason or 'no reason given'}), then Set-ADSyncAutoUpgrade -AutoUpgradeState Enabled "
                f"({_AUTO})",
            )
    distinct = {s.lower() for s in states.values()}
    if len(distinct) > 1:
        active = pair.active
        listed = ", ".join(f"{host}{' (active)' if active and host == active.host else ''}: {state}"
                           for host, state in states.items())
        yield report(
            f"automatic upgrade differs between the servers ({listed}): the servers will drift to different "
            "versions",
            severity=Severity.HIGH if "enabled" in distinct else Severity.MEDIUM,
            values={"auto_upgrade": states},
        )
