import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("tls12")
def test_tls12(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("tls12", pair, server)
