"""The watch against the lab: the real ``entra-standby watch`` endpoint, ``entra-standby check`` exit codes,
a poll's cost in HTTP requests, and a hung host that must not hold another pair's metrics.

Metrics are scraped over HTTP and parsed with prometheus_client's own parser. Upper bounds on time here
prove behaviours ("within one poll interval", "not held by the hung host") with generous margins; the
timing figures themselves are in bench/watch_lab.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from test_watch_promtool import promtool_lint

from entra_standby.cli import main
from entra_standby.gather import DEADLINE_GRACE_S, gather
from entra_standby.inventory import Inventory, ServerEntry, inventory_from_dict, load_inventory
from entra_standby.lab import Lab
from entra_standby.remoting import HostSession
from entra_standby.watch import HostGate, Verdict, poll_pair
from entra_standby.watch.poll import default_deadline
from entra_standby.watch.watcher import Watcher

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "fixtures" / "scenarios"
# Loopback only, never through a proxy the machine may define.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
Samples = dict[str, list[tuple[dict[str, str], float]]]


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("entra-standby")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "entra_standby.cli"]


def _env() -> dict[str, str]:
    return {**os.environ, "NO_PROXY": "127.0.0.0/8,localhost", "no_proxy": "127.0.0.0/8,localhost"}


def scrape(url: str) -> tuple[str, Samples]:
    with _OPENER.open(f"{url}/metrics", timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = answer.read().decode()
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        found[family.name] = [(dict(s.labels), s.value) for s in family.samples]
    return text, found


def value(samples: Samples, name: str, **labels: str) -> float | None:
    for found, number in samples.get(name, []):
        if all(found.get(k) == v for k, v in labels.items()):
            return number
    return None


def check(inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_cli(), "check", "--inventory", str(inventory), *args], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def healthy_lab(tmp_path: Path) -> Iterator[tuple[Lab, Path]]:
    with Lab(SCENARIOS / "healthy-pair.yml") as lab:
        yield lab, lab.write_inventory(tmp_path / "lab-inventory.yml")


@pytest.fixture
def watch_process(healthy_lab: tuple[Lab, Path]) -> Iterator[str]:
    """``entra-standby watch`` on the healthy lab, polling every second; yields its base URL."""
    _, inventory = healthy_lab
    textfile = inventory.parent / "watch.prom"
    proc = subprocess.Popen([*_cli(), "watch", "--inventory", str(inventory), "--listen", "127.0.0.1:0",
                             "--interval", "1", "--prometheus-textfile", str(textfile)],
                            cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert line.startswith("entra-standby watch: serving http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split("serving ", 1)[1].split("/metrics", 1)[0]
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "stopping" in out
        # the watcher also kept node_exporter's textfile up to date, whole files only
        families = {f.name for f in text_string_to_metric_families(textfile.read_text())}
        assert "entra_standby_pair_verdict" in families
        assert sorted(p.name for p in textfile.parent.iterdir() if "watch.prom" in p.name) == ["watch.prom"]
        password = yaml.safe_load(inventory.read_text())["pairs"][0]["connection"]["password"]
        assert password not in out and password not in err


def wait_for(url: str, predicate: Any, *, within_s: float) -> tuple[float, str, Samples]:
    """Scrape until ``predicate(samples)`` holds; returns the seconds it took, the text and the samples."""
    started = time.monotonic()
    while True:
        text, samples = scrape(url)
        if predicate(samples):
            return time.monotonic() - started, text, samples
        assert time.monotonic() - started < within_s, f"not within {within_s} s:\n{text}"
        time.sleep(0.1)


def test_watch_follows_split_brain_and_back_within_a_poll(healthy_lab: tuple[Lab, Path], watch_process: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    lab, inventory = healthy_lab
    url = watch_process
    _, _, first = wait_for(url, lambda s: value(s, "entra_standby_pair_polled", pair="healthy-pair") == 1,
                           within_s=30)
    assert value(first, "entra_standby_pair_unstaged_servers", pair="healthy-pair") == 1
    assert value(first, "entra_standby_pair_verdict", verdict="ready") == 1
    assert value(first, "entra_standby_server_reachable", server="aadc02", host="127.0.0.12",
                 role="standby") == 1
    assert value(first, "entra_standby_tenant_last_sync_age_seconds", pair="healthy-pair") is not None
    with _OPENER.open(f"{url}/healthz", timeout=10) as health:
        assert health.status == 200 and health.read().startswith(b"ok")

    lab.wizard("aadc02").configure_staging(False, start_sync=False)  # the standby leaves staging mode
    took, text, split = wait_for(
        url, lambda s: value(s, "entra_standby_pair_unstaged_servers", pair="healthy-pair") == 2, within_s=15)
    # one interval (1 s) plus one poll (about a second here) plus the scrape; 15 s is the hard stop above
    assert took < 8, f"split brain showed after {took:.1f} s"
    assert value(split, "entra_standby_pair_condition", condition="split_brain", severity="critical") == 1
    assert value(split, "entra_standby_pair_verdict", verdict="not_ready") == 1
    assert value(split, "entra_standby_check_state", check="staging-flag", state="failed") == 1
    assert value(split, "entra_standby_server_staging_enabled", server="aadc02", host="127.0.0.12") == 0
    promtool_lint(text)

    plugin = check(inventory, "--pair", "healthy-pair")  # the real command, in its own process
    assert plugin.returncode == 2, plugin.stdout + plugin.stderr
    status = plugin.stdout.splitlines()[0]
    assert status.startswith("ENTRA-STANDBY CRITICAL - healthy-pair: SPLIT BRAIN")
    assert "aadc01 and aadc02 are both un-staged" in status and "127.0.0." not in status  # names
    assert "'healthy-pair unstaged'=2;;1:1;0;2" in status

    lab.wizard("aadc02").configure_staging(True, start_sync=False)  # and back
    took, _, back = wait_for(
        url, lambda s: value(s, "entra_standby_pair_unstaged_servers", pair="healthy-pair") == 1, within_s=15)
    assert took < 8
    assert value(back, "entra_standby_pair_condition", condition="split_brain", severity="critical") is None
    assert value(back, "entra_standby_pair_verdict", verdict="ready") == 1
    assert main(["check", "--inventory", str(inventory), "--pair", "healthy-pair"]) == 0
    assert capsys.readouterr().out.startswith("ENTRA-STANDBY OK - healthy-pair: ready, aadc01 exports")


@pytest.mark.parametrize(("scenario", "code", "unstaged", "words"), [
    ("healthy-pair", 0, 1, ["ENTRA-STANDBY OK", "ready"]),
    ("split-brain", 2, 2, ["ENTRA-STANDBY CRITICAL", "SPLIT BRAIN", "aadc01 and aadc02"]),
    ("active-down", 2, 0, ["ENTRA-STANDBY CRITICAL", "aadc01 (active) not polled: 127.0.0.11:", "refused"]),
    ("cloud-stale", 2, 1, ["ENTRA-STANDBY CRITICAL", "6.0 h ago"]),
])
def test_check_exit_codes_on_the_lab_scenarios(tmp_path: Path, scenario: str, code: int, unstaged: int,
                                               words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # In-process (the command's own main()): the subprocess round trip is proven by the split-brain test.
    with Lab(SCENARIOS / f"{scenario}.yml") as lab:
        inventory = lab.write_inventory(tmp_path / "inv.yml")
        textfile = tmp_path / "entra.prom"
        returned = main(["check", "--inventory", str(inventory), "--pair", scenario,
                         "--prometheus-textfile", str(textfile)])
    out = capsys.readouterr().out
    assert returned == code, out
    status, _, perf = out.splitlines()[0].partition(" | ")
    assert out.count("\n") == 1 and all(w in status for w in words), out
    assert f"'{scenario} unstaged'={unstaged};" in perf
    families = text_string_to_metric_families(textfile.read_text())
    samples = {f.name: [s.value for s in f.samples] for f in families}
    assert samples["entra_standby_pair_unstaged_servers"] == [unstaged]


def test_a_poll_costs_no_more_requests_than_the_audit(healthy_lab: tuple[Lab, Path]) -> None:
    lab, path = healthy_lab
    inventory = load_inventory(path)
    for server in lab.servers.values():
        server.counters.reset()
    gather(inventory)
    audit = {name: s.counters.snapshot()["total"] for name, s in lab.servers.items()}
    for server in lab.servers.values():
        server.counters.reset()
    poll = poll_pair(inventory.pairs[0], gate=HostGate())
    light = {name: s.counters.snapshot()["total"] for name, s in lab.servers.items()}
    assert poll.complete and not poll.host_errors
    assert all(0 < light[name] <= audit[name] for name in audit), (light, audit)
    by_action = lab.servers["aadc02"].counters.snapshot()["by_action"]
    assert by_action.get("Command") == 1  # one pipeline per host


class _CountingSession(HostSession):
    """A real session that records how many sessions to one host are open at once."""

    open_now: dict[str, int] = {}
    most: dict[str, int] = {}
    lock = threading.Lock()

    def __enter__(self) -> _CountingSession:
        with self.lock:
            self.open_now[self.host] = self.open_now.get(self.host, 0) + 1
            self.most[self.host] = max(self.most.get(self.host, 0), self.open_now[self.host])
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            super().__exit__(*exc)
        finally:
            with self.lock:
                self.open_now[self.host] -= 1


def _rename_servers(pair: dict[str, Any], prefix: str) -> None:
    """Two labs name their servers alike; an inventory needs every server name once."""
    for server in pair["servers"]:
        if server.get("name"):
            server["name"] = prefix + server["name"]


def _two_pairs(first: Lab, second: Lab, path: Path) -> Inventory:
    slow = second.inventory_dict()["pairs"][0]
    # a stalled host would hold an unbounded poll 30 s (the read timeout), far beyond the 2 s deadline
    slow["connection"]["read_timeout"] = 30
    _rename_servers(slow, "branch-")
    return inventory_from_dict({"pairs": [*first.inventory_dict()["pairs"], slow]}, path=path)


def test_a_hung_host_never_holds_another_pairs_metrics(tmp_path: Path) -> None:
    scenario = {"name": "branch-pair", "servers": {"aadc01": {"address": "127.0.0.21"},
                                                   "aadc02": {"address": "127.0.0.22"}}}
    with Lab(SCENARIOS / "healthy-pair.yml") as main_lab, Lab(scenario) as branch_lab:
        inventory = _two_pairs(main_lab, branch_lab, tmp_path / "two.yml")
        branch_lab.set_fault("aadc02", stall=["*"])  # every request to it hangs (read timeout: 30 s)
        _CountingSession.open_now.clear()
        _CountingSession.most.clear()

        def factory(server: ServerEntry) -> HostSession:
            return _CountingSession(server)

        watcher = Watcher(inventory, interval_s=0.3, deadline_s=2.0, session_factory=factory)
        started = time.monotonic()
        watcher.start()
        try:
            healthy_seen: list[float] = []
            branch_first: float | None = None
            while time.monotonic() - started < 5.0:
                views = {v.name: v for v in watcher.views() if v is not None}
                if "healthy-pair" in views and (not healthy_seen or healthy_seen[-1] != views[
                        "healthy-pair"].polled_utc.timestamp()):
                    healthy_seen.append(views["healthy-pair"].polled_utc.timestamp())
                if "branch-pair" in views and branch_first is None:
                    branch_first = time.monotonic() - started
                time.sleep(0.05)
            views = {v.name: v for v in watcher.views() if v is not None}
        finally:
            watcher.stop()
            branch_lab.clear_faults()
    # the healthy pair kept polling while the branch pair's host hung (for the whole window: 30 s timeout)
    assert len(healthy_seen) >= 2, healthy_seen
    assert views["healthy-pair"].verdict is Verdict.READY
    # the branch pair answered at its deadline (2 s), not after the host's 30 s read timeout
    assert branch_first is not None and branch_first < 10, branch_first
    branch = views["branch-pair"]
    assert branch.verdict is Verdict.UNKNOWN and not branch.server("branch-aadc02").reachable
    active = branch.server("branch-aadc01")
    assert active.reachable and active.staging_enabled is False
    error = branch.server("branch-aadc02").error or ""
    assert "poll deadline of 2 s" in error or "still running" in error, error
    # never two sessions to one host at once, although polls of the branch pair came every ~2 s
    assert _CountingSession.most.get("127.0.0.22") == 1, _CountingSession.most
    assert all(n == 1 for n in _CountingSession.most.values()), _CountingSession.most


def test_the_previous_active_back_unstaged_after_a_failover_is_named(tmp_path: Path) -> None:
    with Lab(SCENARIOS / "healthy-pair.yml") as lab:
        inventory = load_inventory(lab.write_inventory(tmp_path / "inv.yml"))
        watcher = Watcher(inventory, interval_s=60, deadline_s=20)
        assert watcher.poll_once("healthy-pair").conditions == ()
        lab.set_fault("aadc01", down=True)  # the active dies ...
        lab.wizard("aadc02").configure_staging(False, start_sync=False)  # ... and the standby takes over
        after_failover = watcher.poll_once("healthy-pair")
        assert after_failover.unstaged == 1 and not after_failover.server("aadc01").reachable
        lab.set_fault("aadc01", down=False)  # the old active comes back, still out of staging mode
        back = watcher.poll_once("healthy-pair")
    assert back.unstaged == 2
    conditions = {c.name: c for c in back.conditions}
    assert set(conditions) == {"returned_active", "split_brain"}
    assert conditions["returned_active"].message.startswith(
        "aadc01, the previous active, came back un-staged after the failover to aadc02")


def test_check_of_two_pairs_with_hung_hosts_takes_one_deadline(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    scenario = {"name": "branch-pair", "servers": {"aadc01": {"address": "127.0.0.31"},
                                                   "aadc02": {"address": "127.0.0.32"}}}
    with Lab(SCENARIOS / "healthy-pair.yml") as main_lab, Lab(scenario) as branch_lab:
        pairs = [*main_lab.inventory_dict()["pairs"], *branch_lab.inventory_dict()["pairs"]]
        _rename_servers(pairs[1], "branch-")
        for pair in pairs:
            pair["connection"]["read_timeout"] = 30
        path = tmp_path / "two.yml"
        path.write_text(yaml.safe_dump({"pairs": pairs}))
        path.chmod(0o600)
        main_lab.set_fault("aadc02", stall=["*"])  # one hung host in each pair
        branch_lab.set_fault("aadc01", stall=["*"])
        started = time.monotonic()
        try:
            code = main(["check", "--inventory", str(path), "--deadline", "4"])
        finally:
            took = time.monotonic() - started
            main_lab.clear_faults()
            branch_lab.clear_faults()
    out = capsys.readouterr().out
    assert code == 2, out
    deadline = "no answer within the poll deadline of 4 s"
    assert f"branch-pair: branch-aadc01 (active) not polled: 127.0.0.31: {deadline}" in out
    assert f"healthy-pair: aadc02 (standby) not polled: 127.0.0.12: {deadline}" in out
    # both pairs polled at once: one 4 s deadline, not one per pair (8 s), nor the hosts' 30 s read timeout
    assert took < 7.5, took


def test_check_state_file_makes_nobody_exporting_critical_on_the_second_run(
        healthy_lab: tuple[Lab, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab, inventory = healthy_lab
    state = tmp_path / "check-state.json"
    command = ["check", "--inventory", str(inventory), "--state-file", str(state)]
    assert main(command) == 0
    lab.wizard("aadc01").configure_staging(True, start_sync=False)  # the active is staged: nobody exports
    assert main(command) == 1  # first sighting: a switch passes through this state
    first = capsys.readouterr().out.splitlines()[-1]
    assert first.startswith("ENTRA-STANDBY WARNING - healthy-pair: nobody exports")
    assert main(command) == 2  # still so on the next run
    second = capsys.readouterr().out.splitlines()[-1]
    assert second.startswith("ENTRA-STANDBY CRITICAL - healthy-pair: nobody exports")
    assert "for 2 polls" in second
    assert main(["check", "--inventory", str(inventory)]) == 2  # without memory: critical at once
    alone = capsys.readouterr().out.splitlines()[-1]
    assert "are both in staging mode: no change reaches Entra ID" in alone


def test_default_poll_deadline_is_the_hosts_own_total_deadline(tmp_path: Path) -> None:
    # A hung host with a 30 s read timeout: its session ends itself at connection.host_timeout (2 s here),
    # and the poll, waiting host_timeout + DEADLINE_GRACE_S by default, gets that session's own error.
    with Lab(SCENARIOS / "healthy-pair.yml") as lab:
        raw = lab.inventory_dict()
        raw["pairs"][0]["connection"].update(read_timeout=30, host_timeout=2)
        pair = inventory_from_dict(raw, path=tmp_path / "inv.yml").pairs[0]
        assert default_deadline(pair) == 2 + DEADLINE_GRACE_S
        lab.set_fault("aadc02", stall=["*"])
        gate = HostGate()
        try:
            poll = poll_pair(pair, gate=gate)
        finally:
            lab.clear_faults()
    assert 1.5 < poll.elapsed_s < 2 + DEADLINE_GRACE_S + 1.5, poll.elapsed_s
    error = poll.host_errors["127.0.0.12"]
    assert error.kind == "deadline" and "total deadline of 2 s" in error.message, error
    assert poll.hosts["127.0.0.12"] is not None  # the host answered (with its own error) within the poll
    # the session ended itself: no thread left holding the host, so the next poll may open one session
    assert gate.busy_for("127.0.0.12") is None and poll.complete
    assert poll.hosts["127.0.0.11"] is not None and "127.0.0.11" not in poll.host_errors
