import pytest

from entra_standby.facts import PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("database")
def test_database(pair: PairFacts) -> None:
    expect_pass("database", pair)
