import pytest

from entra_standby.facts import PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("connect-health-agent")
def test_connect_health_agent(pair: PairFacts) -> None:
    expect_pass("connect-health-agent", pair)
