import pytest

from entra_standby.facts import PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("cloud-sync-fresh")
def test_cloud_sync_fresh(pair: PairFacts) -> None:
    if not pair.cloud_configured:
        pytest.skip(f"{pair.name}: no cloud block in the inventory (add one to read the tenant's view; "
                    "see docs/cloud.md)")
    expect_pass("cloud-sync-fresh", pair)
