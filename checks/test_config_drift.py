import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("config-drift")
def test_config_drift(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("config-drift", pair, server)
