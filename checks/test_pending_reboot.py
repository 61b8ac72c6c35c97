import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("pending-reboot")
def test_pending_reboot(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("pending-reboot", pair, server)
