import pytest

from entra_standby.facts import PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("cloud-canary")
def test_cloud_canary(pair: PairFacts) -> None:
    expect_pass("cloud-canary", pair)
