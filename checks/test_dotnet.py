import pytest

from entra_standby.facts import HostFacts, PairFacts
from entra_standby.verdict import expect_pass


@pytest.mark.check("dotnet")
def test_dotnet(pair: PairFacts, server: HostFacts) -> None:
    expect_pass("dotnet", pair, server)
