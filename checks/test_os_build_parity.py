import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("os-build-parity")
def test_os_build_parity(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("os-build-parity", pair, server)
