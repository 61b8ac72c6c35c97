import pytest

from entra_standby.facts import PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("password-writeback")
def test_password_writeback(pair: PairFacts) -> None:
    expect_pass("password-writeback", pair)
