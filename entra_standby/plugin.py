"""pytest plugin: the audit target, the ``pair``/``server`` fixtures, and one gathering per run.

Options: ``--inventory FILE`` (audit the pairs of an inventory; an inventory with ``lab:`` starts that lab
for the run), ``--pair NAME`` (repeatable), ``--evidence DIR`` (save what was gathered), ``--replay DIR``
(evaluate saved evidence, no network).

Tests marked ``@pytest.mark.check("id")`` are parametrised from the check's scope in the rules registry:
pair-scoped checks once per pair (id ``contoso-prod``), host-scoped ones once per server
(``contoso-prod/aadc01.contoso.com``), standby-scoped ones once per standby. Facts for every host are
gathered once, in parallel, before the first check evaluates. A check whose facts (``needs``) could not be
gathered *errors* at setup naming host and cause; other hosts carry on.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .errors import EntraStandbyError
from .facts.collection import HostFacts, PairFacts
from .plugin_drill import add_drill_options, drill_run, drill_summary, register_drill_marker

__all__ = ["AuditRun", "Target", "drill_run"]

log = logging.getLogger(__name__)

_TRY_IT = "pytest checks/ --inventory inventory/lab.yml"
_USAGE = ("no audit target: pass --inventory FILE (or --replay DIR); "
          f"to try the tool on the simulated lab run: {_TRY_IT}")


@dataclass(frozen=True)
class Target:
    """What one parametrised check runs on: a pair, or one server of it."""

    pair: str
    host: str | None = None

    @property
    def id(self) -> str:
        return f"{self.pair}/{self.host}" if self.host else self.pair


class AuditRun:
    """The state of one pytest run: where facts come from, the lab if any, and the facts once gathered."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.inventory_path: str | None = config.getoption("entra_inventory")
        self.replay_dir: str | None = config.getoption("entra_replay")
        self.evidence_dir: str | None = config.getoption("entra_evidence")
        self.pair_filter: list[str] = list(config.getoption("entra_pairs") or [])
        self.inventory: Any = None  # entra_standby.inventory.Inventory
        self.lab: Any = None
        self.replay_meta: dict[str, Any] | None = None
        self.layout: list[tuple[str, list[tuple[str, str]]]] = []  # pair -> [(host, role)]
        self._facts: Any = None  # gather.RunFacts
        self._facts_error: str | None = None
        self._lock = threading.Lock()

    @property
    def has_target(self) -> bool:
        return bool(self.inventory_path or self.replay_dir)

    # --- start-up ----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.inventory_path and self.replay_dir:
            raise pytest.UsageError("--inventory and --replay exclude each other: --replay evaluates saved "
                                    "evidence without connecting anywhere")
        if self.replay_dir and self.evidence_dir:
            raise pytest.UsageError("--evidence cannot be combined with --replay (the evidence exists)")
        try:
            if self.replay_dir:
                self._start_replay(self.replay_dir)
            elif self.inventory_path:
                self._start_inventory(self.inventory_path)
        except EntraStandbyError as exc:
            self.stop()
            raise pytest.UsageError(str(exc)) from None

    def _start_replay(self, directory: str) -> None:
        from .evidence import read_run_metadata

        meta = read_run_metadata(directory)
        self.replay_meta = meta
        known = [p["name"] for p in meta.get("pairs", [])]
        for name in self.pair_filter:
            if name not in known:
                raise pytest.UsageError(f"--pair {name}: not in the evidence {directory} "
                                        f"(it has: {', '.join(known)})")
        self.layout = [(p["name"], [(s["host"], s["role"]) for s in p.get("servers", [])])
                       for p in meta.get("pairs", [])
                       if not self.pair_filter or p["name"] in self.pair_filter]

    def _start_inventory(self, path: str) -> None:
        from .inventory import load_inventory, with_lab_pairs

        inventory = load_inventory(path)
        if inventory.lab_scenario is not None:
            self.lab = _start_lab(inventory.lab_scenario)
            inventory = with_lab_pairs(inventory, self.lab.inventory_dict())
        self.inventory = inventory.select(self.pair_filter)
        self.layout = [(p.name, [(s.host, s.role) for s in p.servers]) for p in self.inventory.pairs]

    def stop(self) -> None:
        lab, self.lab = self.lab, None
        if lab is not None:
            try:
                lab.__exit__(None, None, None)
            except Exception as exc:  # stopping the lab must not hide the run's result
                log.warning("stopping the lab failed: %s", exc)

    # --- facts -------------------------------------------------------------------------------------------

    def facts(self) -> Any:
        """Gather (or load) every pair's facts, once per run; write evidence right after."""
        with self._lock:
            if self._facts is None and self._facts_error is None:
                try:
                    self._facts = self._collect()
                except EntraStandbyError as exc:
                    self._facts_error = str(exc)
            if self._facts_error is not None:
                pytest.fail(self._facts_error, pytrace=False)
            return self._facts

    def _collect(self) -> Any:
        if self.replay_dir:
            from .evidence import load_evidence

            return load_evidence(self.replay_dir, pairs=self.pair_filter or None)
        from .gather import gather

        run = gather(self.inventory, source="lab" if self.lab is not None else "live")
        if self.evidence_dir:
            from .evidence import write_evidence

            write_evidence(self.evidence_dir, run, secrets=self._secrets())
        return run

    def _secrets(self) -> list[str]:
        found = []
        for pair in self.inventory.pairs if self.inventory else ():
            for server in pair.servers:
                if server.connection.password is not None:
                    found.append(server.connection.password.reveal())
            if pair.cloud is not None:
                found.extend(s for s in (pair.cloud.secret, pair.cloud.certificate_password) if s)
        if self.lab is not None:
            password = getattr(getattr(self.lab, "credentials", None), "password", None)
            if isinstance(password, str):
                found.append(password)
        return found

    # --- reporting ---------------------------------------------------------------------------------------

    def header(self) -> list[str]:
        if self.replay_dir:
            meta = self.replay_meta or {}
            return [f"entra-standby TARGET: REPLAY of evidence {self.replay_dir} (no network) - collected "
                    f"{meta.get('collected_utc')} from inventory {meta.get('inventory')} "
                    f"[{meta.get('source')}], tool {meta.get('tool_version')}",
                    f"entra-standby pairs: {self._layout_text()}"]
        if self.inventory_path:
            if self.lab is not None:
                scenario = self.inventory.lab_scenario.name if self.inventory else "?"
                first = (f"entra-standby TARGET: LAB - simulated pair from scenario {scenario} "
                         f"(inventory {self.inventory_path}); no real server is contacted")
            else:
                first = f"entra-standby TARGET: LIVE servers of inventory {self.inventory_path}"
            lines = [first, f"entra-standby pairs: {self._layout_text()}"]
            if self.evidence_dir:
                lines.append(f"entra-standby evidence: writing to {self.evidence_dir}")
            return lines
        return []

    def _layout_text(self) -> str:
        return "; ".join(f"{pair} = " + ", ".join(f"{host} ({role})" for host, role in servers)
                         for pair, servers in self.layout) or "(none selected)"


_RUN_KEY = pytest.StashKey[AuditRun]()


def _start_lab(scenario: Path) -> Any:
    """Start the simulated lab for this run (the only place production code imports the lab)."""
    try:
        from .lab import Lab
    except ImportError as exc:
        raise pytest.UsageError(f"the lab is not available in this installation ({exc})") from None
    lab = Lab(str(scenario))
    try:
        lab.__enter__()
    except EntraStandbyError:
        raise
    except Exception as exc:
        raise pytest.UsageError(f"{scenario}: the lab could not start: {type(exc).__name__}: {exc}") from None
    return lab


def _run(config: pytest.Config) -> AuditRun | None:
    return config.stash.get(_RUN_KEY, None)


# --- hooks -----------------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("entra-standby", "entra-standby: Entra Connect staging-mode standby readiness")
    group.addoption("--inventory", dest="entra_inventory", metavar="FILE", default=None,
                    help="inventory YAML of the pairs to audit (try inventory/lab.yml: a simulated pair)")
    group.addoption("--pair", dest="entra_pairs", metavar="NAME", action="append", default=[],
                    help="audit only this pair (repeatable)")
    group.addoption("--evidence", dest="entra_evidence", metavar="DIR", default=None,
                    help="write the gathered raw outputs, facts and run metadata as JSON under DIR")
    group.addoption("--replay", dest="entra_replay", metavar="DIR", default=None,
                    help="evaluate the checks from evidence in DIR instead of connecting (no network)")
    add_drill_options(group)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "check(id): the readiness check a test evaluates")
    register_drill_marker(config)
    run = AuditRun(config)
    config.stash[_RUN_KEY] = run
    run.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    run = _run(config)
    if run is not None:
        run.stop()


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = _run(config)
    return run.header() if run is not None else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not {"pair", "server", "drill_run"} & set(metafunc.fixturenames):
        return
    run = _run(metafunc.config)
    if run is None or not run.has_target:
        return  # pytest_collection_modifyitems turns this into one usage line
    scope = _scope_of(metafunc.definition, "server" in metafunc.fixturenames)
    targets: list[Target] = []
    for pair, servers in run.layout:
        if scope == "pair":
            targets.append(Target(pair))
        else:
            targets.extend(Target(pair, host) for host, role in servers
                           if scope == "host" or role == "standby")
    metafunc.parametrize("_entra_target", targets, ids=[t.id for t in targets], indirect=True)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    run = _run(config)
    if run is not None and run.has_target:
        return
    for item in items:
        names = getattr(item, "fixturenames", ())
        in_checks = "checks" in item.path.parts and bool({"pair", "server", "drill_run"} & set(names))
        if item.get_closest_marker("check") is not None or in_checks:
            raise pytest.UsageError(_USAGE)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    drill_summary(terminalreporter, config)
    run = _run(config)
    if run is None or run._facts is None:
        return
    lines = []
    for (pair, host), host_run in sorted(run._facts.hosts.items()):
        if host_run.host_error is not None:
            lines.append(f"{pair}/{host}: {host_run.host_error.message}")
    header = run.header()
    terminalreporter.section("entra-standby")
    if header:
        terminalreporter.write_line(header[0])
    if run.evidence_dir:
        terminalreporter.write_line(f"evidence written to {run.evidence_dir}")
    for line in lines:
        terminalreporter.write_line(f"host not audited: {line}", red=True)


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def _entra_target(request: pytest.FixtureRequest) -> Target:
    param = getattr(request, "param", None)
    if not isinstance(param, Target):
        pytest.fail(_USAGE, pytrace=False)
    return param


@pytest.fixture
def pair(request: pytest.FixtureRequest, _entra_target: Target) -> PairFacts:
    """The facts of one HA pair (for a host-scoped check: the pair of ``server``)."""
    run = _run(request.config)
    assert run is not None
    facts = run.facts()
    pair_facts: PairFacts = facts.pair(_entra_target.pair)
    _require_facts(request, pair_facts, _entra_target)
    return pair_facts


@pytest.fixture
def server(pair: PairFacts, _entra_target: Target) -> HostFacts:
    """The facts of one server of ``pair`` (host- and standby-scoped checks)."""
    if _entra_target.host is None:
        pytest.fail("this test asks for 'server' but its check is pair-scoped: use 'pair' only",
                    pytrace=False)
    return pair.server(_entra_target.host)


def _require_facts(request: pytest.FixtureRequest, pair: PairFacts, target: Target) -> None:
    """Setup error when the check cannot be evaluated (naming host and cause); skip if it does not apply."""
    spec = _spec_of(request.node)
    if spec is None:
        return  # a user's own test without @pytest.mark.check: it reads what it wants
    from .results import Outcome, evaluate_check

    server = pair.server(target.host) if target.host else None
    result = evaluate_check(spec, pair, server)
    if result.outcome is Outcome.ERROR:
        pytest.fail(f"{spec.id} cannot be evaluated on {target.id}: {result.reason}", pytrace=False)
    if result.outcome is Outcome.SKIPPED:
        pytest.skip(result.reason or f"{spec.id} does not apply to {target.id}")


def _spec_of(node: Any) -> Any:
    marker = node.get_closest_marker("check")
    if marker is None or not marker.args:
        return None
    from .rules import load_all

    registry = load_all()
    spec = registry.get(str(marker.args[0]))
    if spec is None:
        pytest.fail(f"unknown check id '{marker.args[0]}' in @pytest.mark.check (known: "
                    f"{', '.join(sorted(registry))})", pytrace=False)
    return spec


def _scope_of(definition: Any, wants_server: bool) -> str:
    marker = definition.get_closest_marker("check")
    if marker is not None and marker.args:
        from .rules import load_all

        spec = load_all().get(str(marker.args[0]))
        if spec is not None:
            return str(spec.scope)
    return "host" if wants_server else "pair"
