import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("recent-imports")
def test_recent_imports(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("recent-imports", pair, server)
