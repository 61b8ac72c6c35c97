import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("deletion-threshold")
def test_deletion_threshold(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("deletion-threshold", pair, server)
