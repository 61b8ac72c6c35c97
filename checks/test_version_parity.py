import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("version-parity")
def test_version_parity(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("version-parity", pair, server)
