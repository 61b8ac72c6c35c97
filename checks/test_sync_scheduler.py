import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("sync-scheduler")
def test_sync_scheduler(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("sync-scheduler", pair, server)
