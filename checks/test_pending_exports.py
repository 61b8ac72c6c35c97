import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("pending-exports")
def test_pending_exports(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("pending-exports", pair, server)
