import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("adsynctools")
def test_adsynctools(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("adsynctools", pair, server)
