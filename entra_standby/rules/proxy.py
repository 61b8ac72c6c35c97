"""proxy-parity: the standby reaches the cloud the way the active does (probe-review §4 item 2).

A staging server proves Entra ID *import* connectivity only; exports, password writeback's relay and automatic
upgrade go out through the machine.config <defaultProxy> (.NET, the sync service) and the WinHTTP proxy. A
standby that differs from the active there may fail only after a failover.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import FactUnavailableError
from ..facts.collection import HostFacts, PairFacts
from ..facts.model import ProxyFacts
from ._common import Reporter, no_active_finding
from .base import Finding, Severity, check

_PREREQ = "https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-install-prerequisites"

PROXY_REMEDIATION = (
    "make the standby's proxies equal to the active's: copy the <system.net><defaultProxy> section of "
    "%windir%\\Microsoft.NET\\Framework64\\v4.0.30319\\Config\\machine.config, and set the WinHTTP proxy "
    f"with netsh winhttp set proxy (or reset proxy) as on the active; restart ADSync afterwards ({_PREREQ})"
)


def _proxy(server: HostFacts) -> ProxyFacts:
    proxy = server.machine.proxy
    if proxy is None:
        raise FactUnavailableError(server.host, "machine", "no proxy settings in the machine facts")
    for error in (proxy.machine_config_error, proxy.winhttp_error):
        if error:
            raise FactUnavailableError(server.host, "machine", f"proxy settings unreadable: {error}")
    return proxy


def _low(value: str | None) -> str | None:
    return value.strip().lower() if value else None


def _machine_config(proxy: ProxyFacts) -> dict[str, object]:
    if not proxy.default_proxy_found:
        return {"defaultProxy": None}
    return {"enabled": _low(proxy.default_proxy_enabled), "proxyaddress": _low(proxy.proxy_address),
            "usesystemdefault": _low(proxy.use_system_default), "bypassonlocal": _low(proxy.bypass_on_local),
            "bypasslist": sorted(b.lower() for b in proxy.bypass_list)}


def _winhttp(proxy: ProxyFacts) -> dict[str, object]:
    if proxy.winhttp_proxy is None:
        return {"proxy": None}
    bypass = sorted(p.strip().lower() for p in (proxy.winhttp_bypass or "").replace(",", ";").split(";")
                    if p.strip())
    return {"proxy": _low(proxy.winhttp_proxy), "bypass": bypass}


def _said(settings: dict[str, object]) -> str:
    if list(settings.values()) == [None]:
        return "none (direct access)"
    return ", ".join(f"{k}={';'.join(v) if isinstance(v, list) else v}" for k, v in settings.items()
                     if v not in (None, []))


@check(
    "proxy-parity",
    title="standby uses the active's machine.config and WinHTTP proxies",
    severity=Severity.HIGH,
    scope="standby",
    remediation=PROXY_REMEDIATION,
    needs=("machine",),
)
def proxy_parity(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("proxy-parity", pair, server)
    mine = _proxy(server)
    active = pair.active
    if active is None:
        yield no_active_finding(report, pair, server)
        return
    theirs = _proxy(active)
    for what, read in (("machine.config defaultProxy", _machine_config), ("WinHTTP proxy", _winhttp)):
        here, there = read(mine), read(theirs)
        if here != there:
            yield report(
                f"{server.host}: {what} is {_said(here)}; on the active {active.host} it is {_said(there)}",
                setting=what,
                standby=here,
                active=there,
            )
