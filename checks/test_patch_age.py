import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("patch-age")
def test_patch_age(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("patch-age", pair, server)
