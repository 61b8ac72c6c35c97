import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("version-supported")
def test_version_supported(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("version-supported", pair, server)
