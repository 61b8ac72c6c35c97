import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("audit-access")
def test_audit_access(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("audit-access", pair, server)
