import pytest

from entra_standby.facts import PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("cloud-canary")
def test_cloud_canary(pair: PairFacts) -> None:
    if not pair.cloud_configured:
        pytest.skip(f"{pair.name}: no cloud block in the inventory (add one to read the tenant's view; "
                    "see docs/cloud.md)")
    if pair.cloud is not None and pair.cloud.canary is None:
        pytest.skip(f"{pair.name}: no canary_user in the pair's cloud block")
    expect_pass("cloud-canary", pair)
