import pytest

from entra_standby.facts import PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("auto-upgrade")
def test_auto_upgrade(pair: PairFacts) -> None:
    expect_pass("auto-upgrade", pair)
