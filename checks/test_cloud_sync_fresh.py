import pytest

from entra_standby.facts import PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("cloud-sync-fresh")
def test_cloud_sync_fresh(pair: PairFacts) -> None:
    expect_pass("cloud-sync-fresh", pair)
