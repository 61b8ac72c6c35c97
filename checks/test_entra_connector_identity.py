import pytest

from entra_standby.facts import PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("entra-connector-identity")
def test_entra_connector_identity(pair: PairFacts) -> None:
    expect_pass("entra-connector-identity", pair)
