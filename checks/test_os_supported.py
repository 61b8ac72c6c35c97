import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("os-supported")
def test_os_supported(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("os-supported", pair, server)
