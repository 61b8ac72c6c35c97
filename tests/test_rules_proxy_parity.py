"""proxy-parity (issue 16 point 5): machine.config defaultProxy and WinHTTP proxy equal to the active's."""

from __future__ import annotations

import dataclasses

import pytest
from factbuilders import change, healthy_pair, run

from entra_standby.errors import FactUnavailableError
from entra_standby.facts.collection import PairFacts
from entra_standby.facts.model import ProxyFacts

CORP = ProxyFacts(default_proxy_found=True, default_proxy_enabled="true",
                  proxy_address="http://proxy.contoso.com:8080", use_system_default="false",
                  bypass_on_local="true", bypass_list=("contoso\\.com",),
                  winhttp_proxy="proxy.contoso.com:8080", winhttp_bypass="<local>;*.contoso.com")


def _proxy(pair: PairFacts, host: str, proxy: ProxyFacts | None) -> PairFacts:
    return change(pair, host, "machine", proxy=proxy)


def test_no_proxy_on_both_passes_and_the_same_proxy_on_both_passes() -> None:
    assert run("proxy-parity", healthy_pair(), "aadc02") == []
    pair = _proxy(_proxy(healthy_pair(), "aadc01", CORP), "aadc02", CORP)
    assert run("proxy-parity", pair, "aadc02") == []


def test_case_and_bypass_order_do_not_count_as_drift() -> None:
    other = dataclasses.replace(CORP, proxy_address="HTTP://Proxy.Contoso.com:8080",
                                winhttp_bypass="*.contoso.com; <local>")
    pair = _proxy(_proxy(healthy_pair(), "aadc01", CORP), "aadc02", other)
    assert run("proxy-parity", pair, "aadc02") == []


def test_a_standby_without_the_actives_proxies_gets_one_finding_per_setting() -> None:
    pair = _proxy(healthy_pair(), "aadc01", CORP)
    winhttp, config = run("proxy-parity", pair, "aadc02")  # sorted by message
    assert "aadc02: machine.config defaultProxy is none (direct access); on the active aadc01 it is " \
        "enabled=true, proxyaddress=http://proxy.contoso.com:8080" in config.message
    assert "aadc02: WinHTTP proxy is none (direct access); on the active aadc01 it is " \
        "proxy=proxy.contoso.com:8080, bypass=*.contoso.com;<local>" in winhttp.message
    assert winhttp.values["active"]["bypass"] == ["*.contoso.com", "<local>"]
    assert "netsh winhttp set proxy" in config.remediation


def test_a_different_proxy_address_is_named() -> None:
    other = dataclasses.replace(CORP, proxy_address="http://proxy2.contoso.com:3128")
    pair = _proxy(_proxy(healthy_pair(), "aadc01", CORP), "aadc02", other)
    [finding] = run("proxy-parity", pair, "aadc02")
    assert "proxy2.contoso.com:3128" in finding.message and finding.values["setting"] == \
        "machine.config defaultProxy"


@pytest.mark.parametrize("field", ["machine_config_error", "winhttp_error"])
def test_an_unreadable_setting_is_no_verdict(field: str) -> None:
    broken = dataclasses.replace(ProxyFacts(), **{field: "AccessDenied: Access to the path is denied."})  # type: ignore[arg-type]
    pair = _proxy(healthy_pair(), "aadc01", broken)
    with pytest.raises(FactUnavailableError, match="proxy settings unreadable: AccessDenied"):
        run("proxy-parity", pair, "aadc02")


def test_facts_from_before_the_proxy_read_are_no_verdict() -> None:
    with pytest.raises(FactUnavailableError, match="no proxy settings"):
        run("proxy-parity", _proxy(healthy_pair(), "aadc02", None), "aadc02")
