import pytest

from entra_standby.facts import PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("staging-flag")
def test_staging_flag(pair: PairFacts) -> None:
    expect_pass("staging-flag", pair)
