"""Session-wide guards for the project's own tests (see tests/netguard.py)."""

from __future__ import annotations

from collections.abc import Iterator

import netguard
import pytest


def pytest_configure(config: pytest.Config) -> None:
    netguard.install()


@pytest.fixture(autouse=True)
def _loopback_only() -> Iterator[None]:
    netguard.take()  # anything a background thread of an earlier test did is not this test's
    yield
    leaks = netguard.take()
    if leaks:
        pytest.fail(f"network traffic beyond loopback during this test: {'; '.join(sorted(set(leaks))[:5])}",
                    pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for where, count in sorted(netguard.known_leaks.items()):
        terminalreporter.write_line(f"netguard: {count} reverse DNS lookup(s) by {where} (known lab leak: "
                                    "the lab's HTTP servers should override server_bind)")
