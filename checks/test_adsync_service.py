import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("adsync-service")
def test_adsync_service(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("adsync-service", pair, server)
