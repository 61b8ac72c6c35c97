"""Evidence: written from a real gathering against the lab, never holding a secret, replayed faithfully."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from spine_helpers import ROOT, SCENARIOS

from entra_standby.errors import EvidenceError
from entra_standby.evidence import load_evidence, read_run_metadata, write_evidence
from entra_standby.facts.collection import FactError
from entra_standby.gather import RunFacts, gather
from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab
from entra_standby.rules import evaluate, load_all


@pytest.fixture(scope="module")
def drifted_run() -> Iterator[tuple[RunFacts, str]]:
    """A real gathering of the drifted-standby lab (with its cloud view), and the lab's password."""
    with Lab(SCENARIOS / "standby-drifted.yml") as lab:
        inventory = inventory_from_dict(lab.inventory_dict(), path=ROOT / "inventory" / "lab.yml")
        assert lab.credentials is not None
        yield gather(inventory, source="lab"), lab.credentials.password


def all_verdicts(run: RunFacts) -> dict[str, list[str]]:
    verdicts: dict[str, list[str]] = {}
    for check_id, spec in load_all().items():
        for pair in run.pairs:
            targets = [None] if spec.scope == "pair" else [s for s in pair.servers if spec.applies_to(s)]
            for server in targets:
                key = f"{check_id}[{pair.name}{'/' + server.host if server else ''}]"
                try:
                    verdicts[key] = [f.line() for f in evaluate(check_id, pair, server)]
                except Exception as exc:  # unavailable facts: the same error both ways
                    verdicts[key] = [f"error: {type(exc).__name__}: {exc}"]
    return verdicts


def test_evidence_round_trip_gives_the_same_verdicts(drifted_run: tuple[RunFacts, str],
                                                     tmp_path: Path) -> None:
    run, _ = drifted_run
    write_evidence(tmp_path, run)
    replayed = load_evidence(tmp_path)
    assert replayed.source == "replay"
    assert replayed.collected_utc == run.collected_utc
    assert all(p.now_utc == run.collected_utc for p in replayed.pairs)  # evaluation time = collection time
    for live_pair, replay_pair in zip(run.pairs, replayed.pairs, strict=True):
        assert replay_pair.servers == live_pair.servers
        assert replay_pair.cloud == live_pair.cloud and replay_pair.cloud_configured
    live_verdicts, replay_verdicts = all_verdicts(run), all_verdicts(replayed)
    assert live_verdicts == replay_verdicts
    assert any(live_verdicts.values())  # the drifted standby has findings: the comparison is not vacuous


def test_evidence_layout_and_metadata(drifted_run: tuple[RunFacts, str], tmp_path: Path) -> None:
    run, _ = drifted_run
    write_evidence(tmp_path, run)
    meta = read_run_metadata(tmp_path)
    assert meta["inventory"] == "lab.yml" and meta["source"] == "lab" and meta["tool_version"]
    assert meta["collected_utc"].endswith("Z")
    (pair,) = meta["pairs"]
    for server in pair["servers"]:
        doc = json.loads((tmp_path / server["file"]).read_text(encoding="utf-8"))
        assert set(doc["raw"]) == set(doc["facts"]) | set(doc["errors"])
        assert json.loads(doc["raw"]["scheduler"])["probe"] == "scheduler"  # the probe's own JSON, untouched
        assert "staging_mode_enabled" in doc["facts"]["scheduler"]
    assert (tmp_path / pair["cloud_file"]).is_file()


def test_evidence_never_holds_the_password(drifted_run: tuple[RunFacts, str], tmp_path: Path) -> None:
    run, password = drifted_run
    write_evidence(tmp_path, run)  # no scrub list given: nothing secret may be there in the first place
    files = list(tmp_path.rglob("*"))
    assert len([f for f in files if f.is_file()]) >= 4
    for file in files:
        if file.is_file():
            assert password not in file.read_text(encoding="utf-8"), file


def test_known_secrets_are_scrubbed_even_from_error_text(drifted_run: tuple[RunFacts, str],
                                                         tmp_path: Path) -> None:
    run, _ = drifted_run
    leaky = "hunter2-\"quoted\"-secret"
    pair = run.pairs[0]
    server = pair.servers[0]
    bad = dataclasses.replace(server, errors={"tls": FactError("tls", "probe", f"oops {leaky}")},
                              values={k: v for k, v in server.values.items() if k != "tls"})
    pair = dataclasses.replace(pair, servers=(bad, *pair.servers[1:]))
    write_evidence(tmp_path, dataclasses.replace(run, pairs=(pair,)), secrets=[leaky])
    text = "".join(f.read_text(encoding="utf-8") for f in tmp_path.rglob("*.json"))
    assert "hunter2" not in text and "********" in text


def test_replay_selects_pairs_and_rejects_unknown(drifted_run: tuple[RunFacts, str], tmp_path: Path) -> None:
    run, _ = drifted_run
    write_evidence(tmp_path, run)
    name = run.pairs[0].name
    assert [p.name for p in load_evidence(tmp_path, pairs=[name]).pairs] == [name]
    with pytest.raises(EvidenceError, match="no pair named nope"):
        load_evidence(tmp_path, pairs=["nope"])


@pytest.mark.parametrize(("setup", "message"), [
    ("missing", "evidence directory not found"),
    ("empty", "no run.json"),
    ("garbage", "unreadable evidence metadata"),
    ("foreign", "not entra-standby evidence"),
])
def test_unusable_evidence_is_one_clear_error(tmp_path: Path, setup: str, message: str) -> None:
    root = tmp_path / "ev"
    if setup != "missing":
        root.mkdir()
    if setup == "garbage":
        (root / "run.json").write_text("{not json", encoding="utf-8")
    if setup == "foreign":
        (root / "run.json").write_text('{"format": "something-else"}', encoding="utf-8")
    with pytest.raises(EvidenceError, match=message) as info:
        load_evidence(root)
    assert "\n" not in str(info.value) and "--evidence" in str(info.value)


def test_missing_facts_are_parsed_again_from_raw(drifted_run: tuple[RunFacts, str], tmp_path: Path) -> None:
    run, _ = drifted_run
    write_evidence(tmp_path, run)
    meta = read_run_metadata(tmp_path)
    host_file = tmp_path / meta["pairs"][0]["servers"][0]["file"]
    doc = json.loads(host_file.read_text(encoding="utf-8"))
    doc["facts"].pop("scheduler")
    host_file.write_text(json.dumps(doc), encoding="utf-8")
    replayed = load_evidence(tmp_path)
    assert replayed.pairs[0].servers[0].scheduler == run.pairs[0].servers[0].scheduler
