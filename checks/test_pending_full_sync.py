import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("pending-full-sync")
def test_pending_full_sync(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("pending-full-sync", pair, server)
