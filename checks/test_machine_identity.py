import pytest

from entra_standby.facts import PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("machine-identity")
def test_machine_identity(pair: PairFacts) -> None:
    expect_pass("machine-identity", pair)
