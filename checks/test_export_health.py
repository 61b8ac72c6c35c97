import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("export-health")
def test_export_health(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("export-health", pair, server)
