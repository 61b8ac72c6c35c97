import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("proxy-parity")
def test_proxy_parity(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("proxy-parity", pair, server)
