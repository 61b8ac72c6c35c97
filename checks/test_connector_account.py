import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("connector-account")
def test_connector_account(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("connector-account", pair, server)
