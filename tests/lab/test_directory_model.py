"""The lab pair's directory model: what a DC would hold for the scenario's connector accounts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from entra_standby.errors import LabError
from entra_standby.lab import Lab
from entra_standby.lab.directory_model import DirectoryModel, directory_model
from entra_standby.lab.state import RIGHTS

REPL = "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2"
RESET = "00299570-246d-11d0-a768-00aa006e0529"


def _model(scenario: str | dict[str, Any]) -> DirectoryModel:
    source = f"fixtures/scenarios/{scenario}.yml" if isinstance(scenario, str) else scenario
    with Lab(source, serve=False) as lab:
        return directory_model([lab.server(n).state for n in ("aadc01", "aadc02")])


def test_healthy_pair_sets_every_express_right_on_the_domain_root_for_both_accounts() -> None:
    model = _model("healthy-pair")
    assert (model.domain, model.netbios, model.base_dn) == ("contoso.com", "CONTOSO", "DC=contoso,DC=com")
    root = model.container("dc=contoso,dc=com")
    assert root is not None and root.kind == "domain"
    assert len(model.accounts) == 2
    for account in model.accounts:
        mine = [a for a in root.aces if a.trustee_sid == account.sid]
        assert len(mine) == len(RIGHTS)
        assert account.sid.startswith(model.domain_sid + "-")
    assert {c.dn for c in model.containers} >= {"OU=Staff,DC=contoso,DC=com", "OU=Groups,DC=contoso,DC=com"}


def test_misscoped_grants_keep_their_scope_and_place() -> None:
    model = _model("connector-account-misscoped-aces")
    standby = next(a for a in model.accounts if a.dn.startswith("CN=MSOL_8807"))
    root = model.container(model.base_dn)
    assert root is not None
    repl = [a for a in root.aces if a.trustee_sid == standby.sid and a.object_type == REPL]
    assert [a.inheritance for a in repl] == ["Descendents"]
    staff = model.container("OU=Staff,DC=contoso,DC=com")
    assert staff is not None
    assert [(a.object_type, a.inheritance) for a in staff.aces] == [(RESET, "None")]


def test_account_state_comes_from_the_scenario_and_the_seed_is_json() -> None:
    model = _model("break-connector-account")
    assert [a.locked_out for a in model.accounts].count(True) == 1
    seed = json.loads(model.to_json())
    assert {a["sam_account_name"] for a in seed["accounts"]} == {a.sam_account_name for a in model.accounts}
    assert all(isinstance(a["password_last_set"], str) for a in seed["accounts"])


def test_a_pair_reading_two_domains_is_refused() -> None:
    scenario = {"name": "two-domains", "servers": {"aadc02": {"connectors": {"contoso.com": {
        "domain_root": "DC=fabrikam,DC=com"}}}}}
    with pytest.raises(LabError, match="one domain per pair"):
        _model(scenario)
