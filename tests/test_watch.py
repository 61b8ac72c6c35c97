"""The watch's logic without a network: transitions, verdict, Nagios states, metrics, textfile, HTTP server.

Facts are hand-built (tests/factbuilders.py); results come from the real check logic (``evaluate_pair``).
The lab-backed end-to-end tests are in tests/test_watch_lab.py.
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
import stat
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from factbuilders import AAD, NOW, change, drop, healthy_pair
from prometheus_client.parser import text_string_to_metric_families

from entra_standby.cli import main
from entra_standby.errors import EntraStandbyError
from entra_standby.facts.collection import FactError, PairFacts
from entra_standby.facts.model import PendingExport
from entra_standby.results import evaluate_pair
from entra_standby.watch import (
    WATCH_PROBES,
    PairPoll,
    PairTracker,
    PairView,
    Verdict,
    view_of,
    watched_check_ids,
)
from entra_standby.watch.metrics import WatchCollector, metrics_text, registry_for, write_textfile
from entra_standby.watch.nagios import State, checkmk_local_output, plugin_output, state_of
from entra_standby.watch.server import MetricsServer


def poll_of(pair: PairFacts, host_errors: dict[str, str] | None = None,
            names: dict[str, str] | None = None) -> PairPoll:
    errors = {h: FactError("*", "unreachable", m) for h, m in (host_errors or {}).items()}
    return PairPoll(pair=pair, results=tuple(evaluate_pair(pair, watched_check_ids())),
                    hosts={s.host: None for s in pair.servers}, started_utc=NOW, elapsed_s=0.5,
                    deadline_s=51.0, host_errors=errors, names=dict(names or {}))


NAMES = {"aadc01": "east-dc1", "aadc02": "east-dc2"}  # the fixtures' hosts, named as an inventory would


def test_display_names_in_messages_labels_and_status_lines_address_kept_as_host() -> None:
    tracker = PairTracker()
    tracker.update(healthy_pair(), NAMES)
    split = staged(healthy_pair(), "aadc02", False)
    conditions = tracker.update(split, NAMES)
    assert "east-dc2 was staged and is now un-staged while east-dc1 exports" in conditions[0].message
    assert tracker.flags == {"aadc01": False, "aadc02": False}  # state stays keyed by address
    view = view_of(poll_of(split, names=NAMES), conditions)
    assert view.server("east-dc2") is view.server("aadc02")
    state, text = plugin_output([view], verbose=True, now=NOW)
    assert state is State.CRITICAL and "'east-dc1 import age'=" in text
    # the staging-flag findings (rule text names the address) are presented with the names, as the audit does
    assert "aadc0" not in text, text
    m = _families([view])
    assert ({"pair": "contoso-prod", "server": "east-dc2", "host": "aadc02", "role": "standby"}, 0.0) \
        in m["entra_standby_server_staging_enabled"]
    checks = {(s["check"], s["server"], s["host"]) for s, v in m["entra_standby_check_state"] if v == 1}
    assert ("adsync-service", "east-dc2", "aadc02") in checks and ("staging-flag", "", "") in checks
    healthy = view_of(poll_of(healthy_pair(), names=NAMES), [])
    assert checkmk_local_output([healthy], now=NOW).endswith("ready, east-dc1 exports")


def test_verdict_is_the_audits_readiness_on_the_pair_and_standby_targets() -> None:
    broken = drop(healthy_pair(), "aadc01", "service", "aadc01: probe service: malformed output")
    view = view_of(poll_of(broken), [])
    # the audit would say UNKNOWN (the active's adsync-service errored); the watch asks only about the standby
    assert view.verdict is Verdict.READY and view.verdict_reason == "every check passed or is accepted"
    down = unreachable(healthy_pair(), "aadc01")  # pair-scoped checks need the active's flag: unknown
    assert view_of(poll_of(down, {"aadc01": "down"}), []).verdict is Verdict.UNKNOWN
    split = staged(healthy_pair(), "aadc02", False)
    view = view_of(poll_of(split), [])
    assert view.verdict is Verdict.NOT_READY and view.verdict_reason.startswith("1 blocking failure")


def unreachable(pair: PairFacts, host: str) -> PairFacts:
    for domain in WATCH_PROBES:
        pair = drop(pair, host, domain, f"{host}: unreachable: connection refused")
    return pair


def staged(pair: PairFacts, host: str, value: bool) -> PairFacts:
    return change(pair, host, "scheduler", staging_mode_enabled=value)


def test_watched_checks_are_those_the_light_facts_decide() -> None:
    ids = watched_check_ids()
    assert {"staging-flag", "sync-scheduler", "adsync-service", "cloud-sync-fresh",
            "cloud-sync-enabled"} <= set(ids)
    # heavier facts stay with the audit: AD rights, configuration, OS
    assert not {"connector-account", "config-drift", "pending-exports", "recent-imports", "tls12"} & set(ids)


def test_healthy_pair_is_ready_and_ok() -> None:
    pair = healthy_pair()
    view = view_of(poll_of(pair), PairTracker().update(pair))
    assert view.verdict is Verdict.READY and view.unstaged == 1 and not view.conditions
    state, text = plugin_output([view], now=NOW)
    assert state is State.OK
    assert text.startswith("ENTRA-STANDBY OK - contoso-prod: ready, aadc01 exports")
    assert "\n" not in text and " | 'contoso-prod unstaged'=1;;1:1;0;2" in text


def test_split_brain_from_a_staged_standby_names_both_and_the_fix() -> None:
    tracker = PairTracker()
    pair = healthy_pair()
    tracker.update(pair)
    split = staged(pair, "aadc02", False)
    conditions = tracker.update(split)
    assert [c.name for c in conditions] == ["split_brain"]
    message = conditions[0].message
    assert "aadc02 was staged and is now un-staged while aadc01 exports" in message
    assert "staging mode now" in message
    view = view_of(poll_of(split), conditions)
    assert view.unstaged == 2 and view.verdict is Verdict.NOT_READY
    state, text = plugin_output([view], now=NOW)
    assert state is State.CRITICAL and text.startswith("ENTRA-STANDBY CRITICAL - contoso-prod: SPLIT BRAIN")


def test_nobody_exporting_is_a_warning_then_critical_on_the_next_poll() -> None:
    tracker = PairTracker()
    tracker.update(healthy_pair())
    nobody = staged(healthy_pair(), "aadc01", True)
    first = tracker.update(nobody)
    assert [(c.name, c.severity) for c in first] == [("no_exporter", "warning")]
    # staging-flag fails (critical), but a switch passes through this state: the plugin waits a poll
    assert state_of(view_of(poll_of(nobody), first)) is State.WARNING
    second = tracker.update(nobody)
    assert [(c.name, c.severity) for c in second] == [("no_exporter", "critical")]
    assert "for 2 polls" in second[0].message
    assert state_of(view_of(poll_of(nobody), second)) is State.CRITICAL
    assert tracker.update(healthy_pair()) == [] and tracker.no_exporter_polls == 0


def test_previous_active_back_unstaged_after_a_failover_says_so() -> None:
    tracker = PairTracker()
    tracker.update(healthy_pair())  # aadc01 exports
    failed_over = staged(unreachable(healthy_pair(), "aadc01"), "aadc02", False)
    assert tracker.update(failed_over) == []  # aadc01 down, aadc02 took over
    assert tracker.takeover == ("aadc02", "aadc01")
    back = staged(healthy_pair(), "aadc02", False)  # aadc01 returns, still un-staged
    conditions = tracker.update(back)
    names = [c.name for c in conditions]
    assert names == ["returned_active", "split_brain"]
    assert conditions[0].message.startswith(
        "aadc01, the previous active, came back un-staged after the failover to aadc02: both export")
    state, text = plugin_output([view_of(poll_of(back), conditions)], now=NOW)
    assert state is State.CRITICAL and "the previous active, came back un-staged" in text


def test_tracker_state_survives_a_round_trip_and_garbage_starts_afresh() -> None:
    tracker = PairTracker()
    tracker.update(healthy_pair())
    tracker.update(staged(unreachable(healthy_pair(), "aadc01"), "aadc02", False))
    again = PairTracker.from_dict(tracker.to_dict())
    assert again.to_dict() == tracker.to_dict() and again.takeover == ("aadc02", "aadc01")
    assert PairTracker.from_dict({"flags": "x", "takeover": [1], "no_exporter_polls": -3}).to_dict() == \
        PairTracker().to_dict()


def test_unreachable_active_is_unknown_verdict_and_critical_plugin_state() -> None:
    pair = unreachable(healthy_pair(), "aadc01")
    view = view_of(poll_of(pair, {"aadc01": "aadc01: unreachable: connection refused"}),
                   PairTracker().update(pair))
    assert view.verdict is Verdict.UNKNOWN and view.unknown_flags == 1 and view.unstaged == 0
    assert not view.server("aadc01").reachable
    state, text = plugin_output([view], now=NOW)
    assert state is State.CRITICAL and "aadc01 (active) not polled" in text


def test_a_failed_probe_on_a_reachable_host_is_unknown() -> None:
    pair = drop(healthy_pair(), "aadc02", "service", "aadc02: probe service: malformed output")
    view = view_of(poll_of(pair), PairTracker().update(pair))
    assert view.verdict is Verdict.UNKNOWN
    state, text = plugin_output([view], verbose=True, now=NOW)
    assert state is State.UNKNOWN and "[UNKNOWN] contoso-prod: adsync-service contoso-prod/aadc02" in text


def test_medium_only_findings_warn_and_worst_state_wins_over_pairs() -> None:
    pair = change(healthy_pair(), "aadc01", "scheduler", sync_cycle_enabled=False)  # sync-scheduler: high
    view = view_of(poll_of(pair), PairTracker().update(pair))
    assert view.verdict is Verdict.READY  # a finding on the active does not make the standby unready
    assert state_of(view) is State.CRITICAL
    ok = view_of(poll_of(healthy_pair()), [])
    assert plugin_output([ok, view], now=NOW)[0] is State.CRITICAL
    assert plugin_output([ok, ok], now=NOW)[0] is State.OK


Samples = dict[str, list[tuple[dict[str, str], float]]]


def _families(views: list[PairView], now_shift_s: float = 0.0) -> Samples:
    collector = WatchCollector(lambda: views, ["contoso-prod", "not-yet"],
                               clock=lambda: NOW + timedelta(seconds=now_shift_s))
    text = metrics_text(registry_for(collector)).decode()
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        found[family.name] = [(dict(s.labels), s.value) for s in family.samples]
    return found


def test_metrics_say_what_the_issue_lists() -> None:
    pair = change(healthy_pair(), "aadc02", "pending-exports",
                  connectors=(PendingExport(AAD, 0, 3, 42),))
    view = view_of(poll_of(pair), PairTracker().update(pair))
    m = _families([view], now_shift_s=60)
    assert m["entra_standby_pair_polled"] == [({"pair": "contoso-prod"}, 1.0), ({"pair": "not-yet"}, 0.0)]
    assert m["entra_standby_pair_unstaged_servers"] == [({"pair": "contoso-prod"}, 1.0)]
    assert ({"pair": "contoso-prod", "verdict": "ready"}, 1.0) in m["entra_standby_pair_verdict"]
    assert ({"pair": "contoso-prod", "verdict": "unknown"}, 0.0) in m["entra_standby_pair_verdict"]
    states = {(s["check"], s["server"], s["state"]): v for s, v in m["entra_standby_check_state"]}
    assert states[("staging-flag", "", "passed")] == 1.0 and states[("staging-flag", "", "failed")] == 0.0
    assert states[("adsync-service", "aadc02", "passed")] == 1.0
    flags = {s["server"]: v for s, v in m["entra_standby_server_staging_enabled"]}
    assert flags == {"aadc01": 0.0, "aadc02": 1.0}
    roles = {s["server"]: s["role"] for s, _ in m["entra_standby_server_info"]}
    assert roles == {"aadc01": "active", "aadc02": "standby"}
    deletes = [v for s, v in m["entra_standby_server_pending_exports"]
               if s["server"] == "aadc02" and s["kind"] == "deletes"]
    assert deletes == [42.0]
    ages = {(s["server"], s["connector"], s["kind"]): v
            for s, v in m["entra_standby_server_last_success_age_seconds"]}
    # the scrape's clock is 60 s after the poll; the factbuilders' last cycle ended 10 min before NOW
    assert all(v >= 60 for v in ages.values()) and ("aadc01", AAD, "export") in ages
    assert ("aadc02", AAD, "export") not in ages  # a staged standby has no export runs: no sample


def test_unknown_flags_are_absent_not_zero_and_failed_only_runs_are_infinite() -> None:
    pair = unreachable(healthy_pair(), "aadc01")
    runs = pair.server("aadc02").run_history.runs
    failed = tuple(dataclasses.replace(r, result="stopped-server-down") if r.connector == AAD else r
                   for r in runs)
    pair = change(pair, "aadc02", "run-history", runs=failed)
    m = _families([view_of(poll_of(pair, {"aadc01": "down"}), [])])
    assert [s["server"] for s, _ in m["entra_standby_server_staging_enabled"]] == ["aadc02"]
    down = ({"pair": "contoso-prod", "server": "aadc01", "host": "aadc01", "role": "active"}, 0.0)
    assert down in m["entra_standby_server_reachable"]
    ages = {(s["connector"], s["kind"]): v for s, v in m["entra_standby_server_last_success_age_seconds"]}
    assert math.isinf(ages[(AAD, "import")]) and math.isfinite(ages[("contoso.com", "import")])


def test_textfile_is_written_atomically_and_refuses_a_name_the_collector_skips(tmp_path: Path) -> None:
    view = view_of(poll_of(healthy_pair()), [])
    registry = registry_for(WatchCollector(lambda: [view], ["contoso-prod"]))
    target = tmp_path / "entra.prom"
    target.write_text("old\n")
    inode = os.stat(target).st_ino
    write_textfile(target, registry)
    assert os.stat(target).st_ino != inode  # replaced by rename, never rewritten in place
    assert "entra_standby_pair_unstaged_servers" in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entra.prom"]  # no partial file left behind
    with pytest.raises(EntraStandbyError, match=r"\.prom"):
        write_textfile(tmp_path / "entra.txt", registry)
    with pytest.raises(EntraStandbyError, match="does not exist"):
        write_textfile(tmp_path / "missing" / "entra.prom", registry)
    assert stat.S_ISREG(os.stat(target).st_mode)


def test_http_server_binds_without_a_reverse_dns_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: object) -> str:
        raise AssertionError("getfqdn called: a reverse-DNS lookup leaves loopback")

    monkeypatch.setattr(socket, "getfqdn", no_dns)
    server = MetricsServer(("127.0.0.1", 0), metrics=lambda: b"x 1\n", health=lambda: (False, "starting"))
    server.serve_in_background()
    try:
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as answer:
            assert answer.read() == b"x 1\n" and answer.headers["Content-Type"].startswith("text/plain")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{server.url}/healthz", timeout=5)
        assert refused.value.code == 503 and refused.value.read() == b"starting\n"
    finally:
        server.stop()
    assert server.url.startswith("http://127.0.0.1:")


def test_check_usage_errors_are_nagios_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["check", "--pair", "x"])
    assert usage.value.code == 3
    assert capsys.readouterr().out.startswith("ENTRA-STANDBY UNKNOWN - entra-standby check: ")
    assert main(["check", "--inventory", str(tmp_path / "none.yml")]) == 3
    out = capsys.readouterr().out
    assert out.startswith("ENTRA-STANDBY UNKNOWN - ") and "file not found" in out and out.count("\n") == 1


def test_checkmk_local_lines_carry_state_service_and_metrics() -> None:
    split = staged(healthy_pair(), "aadc02", False)
    views = [view_of(poll_of(healthy_pair()), []), view_of(poll_of(split), PairTracker().update(split))]
    lines = checkmk_local_output(views, now=NOW).splitlines()
    assert lines[0].startswith('0 "Entra standby contoso-prod" contoso_prod_unstaged=1;;1:1;0;2|')
    assert lines[0].endswith(" ready, aadc01 exports")
    status, _, rest = lines[1].partition(" ")
    assert status == "2" and "SPLIT BRAIN" in rest and "contoso_prod_unstaged=2;" in rest
    metrics = rest.split('" ', 1)[1].split(" ", 1)[0]
    assert all("=" in m and " " not in m and "'" not in m for m in metrics.split("|"))


def test_the_watch_package_uses_gather_and_results_never_the_lab_or_pytest() -> None:
    """architecture.md: watch/ may use gather and results; production code never imports the lab."""
    import ast

    package = Path(__file__).resolve().parents[1] / "entra_standby" / "watch"
    imported: set[str] = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.lstrip("."))
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert {"gather", "results"} <= imported
    assert not {m for m in imported if m.split(".")[0] in ("lab", "plugin", "pytest", "pypsrp", "remoting")}


def test_watcher_health_follows_its_pollers() -> None:
    import time

    from entra_standby.errors import UnreachableError
    from entra_standby.inventory import ServerEntry, inventory_from_dict
    from entra_standby.watch.watcher import Watcher

    connection = {"username": "LAB\\auditor", "password": "x", "cert_validation": False}
    inventory = inventory_from_dict({"pairs": [
        {"name": name, "connection": connection,
         "servers": [{"host": f"127.0.0.{n}1", "role": "active"},
                     {"host": f"127.0.0.{n}2", "role": "standby"}]}
        for n, name in ((4, "a"), (5, "b"))]}, path=Path("inline.yml"))

    def refused(server: ServerEntry) -> object:  # as a host whose WinRM port refuses: no session at all
        raise UnreachableError(server.host, "unreachable: connection refused")

    watcher = Watcher(inventory, interval_s=0.2, deadline_s=5, session_factory=refused)
    healthy, text = watcher.health()
    assert not healthy and "a: poller not running" in text
    watcher.start()
    try:
        deadline = time.monotonic() + 10
        while not watcher.health()[0]:
            assert time.monotonic() < deadline, watcher.health()[1]
            time.sleep(0.05)
        healthy, text = watcher.health()
        assert text.startswith("ok\n") and "a: ok (" in text and "verdict unknown" in text
        views = [v for v in watcher.views() if v is not None]
        assert [v.name for v in views] == ["a", "b"]
        assert all(v.verdict is Verdict.UNKNOWN and v.unknown_flags == 2 for v in views)
        assert "connection refused" in (views[0].server("127.0.0.41").error or "")
    finally:
        watcher.stop()
    assert all(not t.is_alive() for t in [s.thread for s in watcher._pairs.values()] if t is not None)
