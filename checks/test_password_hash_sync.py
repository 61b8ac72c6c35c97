import pytest

from entra_standby.facts import PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("password-hash-sync")
def test_password_hash_sync(pair: PairFacts) -> None:
    expect_pass("password-hash-sync", pair)
