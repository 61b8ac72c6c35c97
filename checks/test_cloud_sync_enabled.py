import pytest

from entra_standby.facts import PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("cloud-sync-enabled")
def test_cloud_sync_enabled(pair: PairFacts) -> None:
    expect_pass("cloud-sync-enabled", pair)
