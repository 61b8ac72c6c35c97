"""pytest plugin: the audit target, the ``pair``/``server`` fixtures, one gathering per run, and the verdict.

Options: ``--inventory FILE`` (audit the pairs of an inventory; an inventory with ``lab:`` starts that lab
for the run), ``--pair NAME`` (repeatable), ``--evidence DIR`` (save what was gathered), ``--replay DIR``
(evaluate saved evidence, no network), ``--fail-on LEVEL``, ``--waivers FILE``, ``--readiness-report DIR``,
``--summary PATH``, ``--results-json PATH`` (docs/results.md).

Tests marked ``@pytest.mark.check("id")`` are parametrised from the check's scope in the rules registry:
pair-scoped checks once per pair (id ``contoso-prod``), host-scoped ones once per server
(``contoso-prod/aadc01``: the server's inventory ``name``, else its host), standby-scoped ones once per
standby; each also gets its severity as a marker (``-m critical``) and its check id as a keyword
(``-k version-parity``). Facts for every host are gathered once, in parallel, before the first check
evaluates. Every check's outcome is judged once by the result model (``results.judge``: waivers, the
``--fail-on`` gate), and the test, the end-of-run verdict, the reports and the exit code all report that
judgement. A check whose facts (``needs``) could not be gathered *errors* at setup naming host and cause;
other hosts carry on.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from . import exitcodes
from .errors import EntraStandbyError
from .facts.collection import HostFacts, PairFacts
from .plugin_drill import add_drill_options, drill_run, drill_summary, register_drill_marker
from .results import Judged, Policy, Status
from .rules import Severity

__all__ = ["AuditRun", "Target", "drill_run"]

log = logging.getLogger(__name__)

_TRY_IT = "pytest checks/ --inventory inventory/lab.yml"
_USAGE = ("no audit target: pass --inventory FILE (or --replay DIR); "
          f"to try the tool on the simulated lab run: {_TRY_IT}")
_SEVERITIES = tuple(str(s) for s in sorted(Severity, reverse=True))
_SERVED_LAB = "# entra-standby lab inventory"  # the first line `entra-standby lab serve` writes


def _checks_dir() -> Path | None:
    """The readiness checks: ``checks/`` of a source checkout, or the copy shipped in the wheel."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "checks", here.parent / "checks"):
        if (candidate / "test_staging_flag.py").is_file():
            return candidate
    return None


@dataclass(frozen=True)
class Target:
    """What one parametrised check runs on: a pair, or one server of it (address and display name)."""

    pair: str
    host: str | None = None
    name: str | None = None

    @property
    def id(self) -> str:
        return f"{self.pair}/{self.name or self.host}" if self.host else self.pair


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
        self.names: dict[str, str] = {}  # host -> display name (the inventory's ``name``)
        self.all_pairs: dict[str, list[str]] = {}  # every pair of the inventory -> its hosts (for waivers)
        self.fail_on = Severity[str(config.getoption("entra_fail_on")).upper()]
        self.waivers_path: str | None = config.getoption("entra_waivers")
        self.policy = Policy(fail_on=self.fail_on, today=dt.datetime.now(dt.UTC).date())
        self.judged: dict[tuple[str, str, str | None], Judged] = {}  # (check, pair, host) -> judgement
        self.notices: list[str] = []  # one line each, for the header (xdist, served lab, waivers)
        self.exit_code: int | None = None
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
        if self.waivers_path and not self.has_target:  # silently ignoring a waiver file would mislead
            raise pytest.UsageError("--waivers applies to an audit: add --inventory FILE or --replay DIR")
        try:
            if self.replay_dir:
                self._start_replay(self.replay_dir)
            elif self.inventory_path:
                self._start_inventory(self.inventory_path)
            if self.has_target:
                self._load_waivers()
        except EntraStandbyError as exc:
            self.stop()
            raise pytest.UsageError(str(exc)) from None

    def _load_waivers(self) -> None:
        """Validate every waiver (inventory, then ``--waivers``) before anything connects."""
        from .rules import load_all
        from .waivers import load_waiver_file, parse_waivers

        checks = {cid: spec.scope for cid, spec in load_all().items()}
        # every pair of the inventory, not only --pair's: a waiver file serves runs of other pairs too
        layout = {pair: [h for host in hosts for h in dict.fromkeys((host, self.names.get(host, host)))]
                  for pair, hosts in self.all_pairs.items()}
        found = []
        if self.inventory is not None and self.inventory.raw_waivers is not None:
            found += parse_waivers(self.inventory.raw_waivers, label=str(self.inventory_path), key="waivers",
                                   checks=checks, layout=layout)
        if self.waivers_path:
            found += parse_waivers(load_waiver_file(self.waivers_path), label=self.waivers_path, key="",
                                   checks=checks, layout=layout)
        self.policy = Policy(fail_on=self.fail_on, waivers=tuple(found), today=self.policy.today,
                             names=dict(self.names))
        expired = [w for w in found if w.expired(self.policy.today)]
        if found:
            self.notices.append(f"entra-standby waivers: {len(found) - len(expired)} active, "
                                f"{len(expired)} EXPIRED (evaluated normally)")
        for waiver in expired:
            self.notices.append(f"entra-standby waiver EXPIRED on {waiver.expires}: {waiver.scope_text()} "
                                f"({waiver.source}): renew it or fix the finding")

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
        self.names = {s["host"]: s.get("name") or s["host"] for p in meta.get("pairs", [])
                      for s in p.get("servers", [])}
        self.all_pairs = {p["name"]: [s["host"] for s in p.get("servers", [])] for p in meta.get("pairs", [])}

    def _start_inventory(self, path: str) -> None:
        from .inventory import load_inventory, with_lab_pairs

        # Listing the checks connects nowhere, so it needs no secret (CI may list before exporting them).
        inventory = load_inventory(path, resolve_secrets=not self.config.option.collectonly)
        if inventory.lab_scenario is not None:
            self.lab = _start_lab(inventory.lab_scenario)
            inventory = with_lab_pairs(inventory, self.lab.inventory_dict())
        self.inventory = inventory.select(self.pair_filter)
        self.layout = [(p.name, [(s.host, s.role) for s in p.servers]) for p in self.inventory.pairs]
        self.names = {s.host: s.display for p in inventory.pairs for s in p.servers}
        self.all_pairs = {p.name: [s.host for s in p.servers] for p in inventory.pairs}

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

            write_evidence(self.evidence_dir, run, secrets=self._secrets(), names=self.names)
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
                    f"entra-standby pairs: {self._layout_text()}", *self.notices]
        if self.inventory_path:
            if self.lab is not None:
                scenario = self.inventory.lab_scenario.name if self.inventory else "?"
                first = (f"entra-standby TARGET: LAB - simulated pair from scenario {scenario} "
                         f"(inventory {self.inventory_path}); no real server is contacted")
            elif self._served_lab():
                first = (f"entra-standby TARGET: LAB - inventory {self.inventory_path} was written by "
                         "`entra-standby lab serve` and every server is on loopback")
            else:
                first = f"entra-standby TARGET: LIVE servers of inventory {self.inventory_path}"
            lines = [first, f"entra-standby pairs: {self._layout_text()}"]
            if self.evidence_dir:
                lines.append(f"entra-standby evidence: writing to {self.evidence_dir}")
            return lines + self.notices
        return []

    def _served_lab(self) -> bool:
        """A ``lab serve`` inventory: its marker line and nothing but loopback hosts (both, so that a real
        server behind an SSH tunnel on localhost is never called a lab)."""
        from .inventory import is_loopback

        try:
            with open(str(self.inventory_path), encoding="utf-8") as handle:
                first = handle.readline()
        except OSError:
            return False
        hosts = [host for _, servers in self.layout for host, _ in servers]
        return first.startswith(_SERVED_LAB) and bool(hosts) and all(is_loopback(h) for h in hosts)

    def _layout_text(self) -> str:
        def server(host: str, role: str) -> str:
            name = self.names.get(host, host)
            return f"{name} ({role})" if name == host else f"{name} ({host}, {role})"

        return "; ".join(f"{pair} = " + ", ".join(server(host, role) for host, role in servers)
                         for pair, servers in self.layout) or "(none selected)"

    # --- judging -----------------------------------------------------------------------------------------

    def judge(self, spec: Any, pair: PairFacts, server: HostFacts | None) -> Judged:
        """The one judgement of a check on a target (cached): what the test, verdict and reports say."""
        from .results import evaluate_check, judge, not_run
        from .waivers import find_waiver

        key = (spec.id, pair.name, server.host if server is not None else None)
        with self._lock:
            known = self.judged.get(key)
        if known is not None:
            return known
        host = server.host if server is not None else None
        names = [n for n in (host, self.names.get(host or "", None)) if n]
        waiver = find_waiver(self.policy.waivers, spec.id, pair.name, names)
        if waiver is not None and not waiver.run and not waiver.expired(self.policy.today):
            result = not_run(spec, pair.name, host, waiver)
        else:
            result = evaluate_check(spec, pair, server)
        judged = judge(result, self.policy, server.role if server is not None else None)
        with self._lock:
            return self.judged.setdefault(key, judged)


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
    group.addoption("--fail-on", dest="entra_fail_on", metavar="LEVEL", default="low",
                    choices=[str(s) for s in Severity],
                    help="lowest finding severity that fails the run: critical, high, medium or low (default "
                         "low); findings below it are reported as warnings")
    group.addoption("--waivers", dest="entra_waivers", metavar="FILE", default=None,
                    help="YAML list of waivers (check, pair, host, justification, expires, run); see "
                         "docs/results.md")
    group.addoption("--readiness-report", dest="entra_report_dir", metavar="DIR", default=None,
                    help="write entra-standby.junit.xml, entra-standby-summary.md and "
                         "entra-standby-results.json under DIR")
    group.addoption("--summary", dest="entra_summary", metavar="PATH", default=None,
                    help="write the verdict and scorecard as Markdown (e.g. $GITHUB_STEP_SUMMARY)")
    group.addoption("--results-json", dest="entra_results_json", metavar="PATH", default=None,
                    help="write every result as JSON")
    group.addoption("--inventory", dest="entra_inventory", metavar="FILE", default=None,
                    help="inventory YAML of the pairs to audit (try inventory/lab.yml: a simulated pair)")
    group.addoption("--pair", dest="entra_pairs", metavar="NAME", action="append", default=[],
                    help="audit only this pair (repeatable)")
    group.addoption("--evidence", dest="entra_evidence", metavar="DIR", default=None,
                    help="write the gathered raw outputs, facts and run metadata as JSON under DIR")
    group.addoption("--replay", dest="entra_replay", metavar="DIR", default=None,
                    help="evaluate the checks from evidence in DIR instead of connecting (no network)")
    add_drill_options(group)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]) -> None:
    """Choose the root directory as if the audit were run from the project: pytest reads the command line
    before this plugin's options are known, so it takes ``--inventory FILE``'s value for a test path, and an
    inventory outside the repository moved the rootdir (dropping the project's configuration). With no
    test path at all, the audit runs the readiness checks (``_audit_defaults``): root them at their
    project too, whatever the working directory."""
    try:
        from _pytest.config.findpaths import determine_setup

        namespace = parser.parse_known_args(args, namespace=copy.copy(early_config.option))
        if not getattr(namespace, "entra_inventory", None) and not getattr(namespace, "entra_replay", None):
            return
        paths = list(namespace.file_or_dir)
        checks = _checks_dir()
        if not paths and checks is not None:
            paths = [str(checks)]
            # load the checks' conftests as initial ones (the project's conftest declares pytest_plugins)
            early_config.known_args_namespace.file_or_dir = list(paths)
        rootpath, inipath, inicfg, _ignored = determine_setup(
            inifile=namespace.inifilename, override_ini=namespace.override_ini, args=paths,
            rootdir_cmd_arg=namespace.rootdir or None, invocation_dir=early_config.invocation_params.dir)
        if rootpath == early_config.rootpath:
            return
        old_cut = str(early_config.inipath.parent if early_config.inipath else early_config.rootpath)
        early_config._rootpath = rootpath
        early_config._inipath = inipath
        early_config._inicfg = inicfg
        early_config._inicache.clear()
        if early_config.known_args_namespace.confcutdir == old_cut:  # pytest's default, not the user's
            early_config.known_args_namespace.confcutdir = str(inipath.parent if inipath else rootpath)
    except Exception as exc:  # private pytest API: if it moves, keep pytest's own choice
        log.debug("rootdir correction skipped: %s", exc)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "check(id): the readiness check a test evaluates")
    for level in _SEVERITIES:
        config.addinivalue_line("markers", f"{level}: a readiness check of severity {level} (-m {level})")
    register_drill_marker(config)
    run = AuditRun(config)
    config.stash[_RUN_KEY] = run
    run.start()
    if run.has_target:
        _audit_defaults(config, run)
        from . import verdict

        verdict.set_judge(run.judge)


def _audit_defaults(config: pytest.Config, run: AuditRun) -> None:
    """pytest habits that must just work for an audit: no path runs the checks; ``-n`` does not multiply
    connections."""
    if config.args_source is not pytest.Config.ArgsSource.ARGS and not config.option.pyargs:
        checks = _checks_dir()
        if checks is None:
            raise pytest.UsageError("the readiness checks are not installed with this copy of entra-standby: "
                                    "pass the path of your checks/ directory")
        config.args = [str(checks)]
        run.notices.append(f"entra-standby: no test path given: running the readiness checks in {checks}")
    workers = getattr(config.option, "numprocesses", None)
    if workers and getattr(config.option, "dist", "no") != "no":
        # Every xdist worker would gather every host on its own (N connections per production server,
        # N evidence writers, no verdict); the gather is already parallel and checks take microseconds.
        config.option.dist, config.option.tx, config.option.numprocesses = "no", [], 0
        run.notices.append(f"entra-standby: -n {workers} ignored for the audit: facts are gathered once, "
                           "hosts in parallel, in this process (one connection per server)")


def pytest_unconfigure(config: pytest.Config) -> None:
    run = _run(config)
    if run is not None:
        run.stop()
        if run.has_target:
            from . import verdict

            verdict.set_judge(None)


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
            targets.extend(Target(pair, host, run.names.get(host)) for host, role in servers
                           if scope == "host" or role == "standby")
    metafunc.parametrize("_entra_target", targets, ids=[t.id for t in targets], indirect=True)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    run = _run(config)
    if run is not None and run.has_target:
        _mark_checks(items)
        audited = [i for i in items if i.get_closest_marker("check") is not None
                   or {"pair", "server", "drill_run"} & set(getattr(i, "fixturenames", ()))]
        if items and not audited and not config.option.collectonly:
            raise pytest.UsageError(
                f"--inventory/--replay given, but none of the {len(items)} collected tests is a readiness "
                "check "
                f"(they are this project's own tests): run `pytest {_checks_dir() or 'checks/'} "
                f"--inventory ...`, or give no test path")
        return
    if config.option.collectonly:
        _mark_checks(items)  # listing the checks needs no target and no secrets
        return
    for item in items:
        names = getattr(item, "fixturenames", ())
        in_checks = "checks" in item.path.parts and bool({"pair", "server", "drill_run"} & set(names))
        if item.get_closest_marker("check") is not None or in_checks:
            raise pytest.UsageError(_USAGE)


def _mark_checks(items: list[pytest.Item]) -> None:
    """Severity markers (``-m critical``) and the check id as a keyword (``-k version-parity``)."""
    from .rules import load_all

    registry = load_all()
    for item in items:
        marker = item.get_closest_marker("check")
        spec = registry.get(str(marker.args[0])) if marker is not None and marker.args else None
        if spec is None:
            continue
        item.add_marker(str(spec.severity))
        item.extra_keyword_matches.add(spec.id)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The run's exit code follows the verdict (docs/results.md); the reports are written here."""
    run = _run(session.config)
    if run is None or not run.has_target or (not run.judged and run._facts_error is None):
        return
    judged = list(run.judged.values())
    code = exitcodes.audit_exit_code(judged, int(exitstatus), run._facts_error is not None,
                                     _other_failures(session))
    run.exit_code = code
    session.exitstatus = code
    try:
        _write_reports(run, session.config)
    except EntraStandbyError as exc:
        run.notices.append(f"entra-standby: {exc}")
        session.exitstatus = run.exit_code = exitcodes.BAD_INPUT


def _other_failures(session: pytest.Session) -> bool:
    """Did a test that is not a readiness check (a drill, a user's own test) fail?"""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return False
    return any(not getattr(report, "keywords", {}).get("check")
               for key in ("failed", "error") for report in reporter.stats.get(key, []))


def _verdicts(run: AuditRun) -> Any:
    from .rules import load_all
    from .summary import pair_verdicts

    layout = [(pair, [(run.names.get(host, host), role) for host, role in servers])
              for pair, servers in run.layout]
    catalogue = {pair: sum(1 if spec.scope == "pair" else
                           sum(1 for _, role in servers if spec.scope == "host" or role == "standby")
                           for spec in load_all().values())
                 for pair, servers in run.layout}
    return pair_verdicts(list(run.judged.values()), layout, run._facts_error, catalogue)


def _write_reports(run: AuditRun, config: pytest.Config) -> None:
    report_dir = config.getoption("entra_report_dir")
    summary = config.getoption("entra_summary")
    as_json = config.getoption("entra_results_json")
    if not (report_dir or summary or as_json):
        return
    from . import __version__
    from .reports import ServerInfo, write_readiness_reports

    servers: dict[str, list[ServerInfo]] = {}
    for pair, hosts in run.layout:
        for host, role in hosts:
            servers.setdefault(pair, []).append(ServerInfo(run.names.get(host, host), host, role,
                                                           _version_of(run, pair, host)))
    facts = run._facts
    collected = facts.collected_utc if facts is not None else dt.datetime.now(dt.UTC)
    source = "replay" if run.replay_dir else ("lab" if run.lab is not None or run._served_lab() else "live")
    paths = write_readiness_reports(
        _verdicts(run), servers, fail_on=run.fail_on, collected_utc=collected, source=source,
        inventory=str(run.inventory_path or run.replay_dir), tool_version=__version__,
        exit_code=run.exit_code if run.exit_code is not None else 0, report_dir=report_dir,
        summary_path=summary, json_path=as_json)
    run.notices.append("entra-standby reports: " + ", ".join(str(p) for p in paths))


def _version_of(run: AuditRun, pair: str, host: str) -> str | None:
    try:
        version = run._facts.pair(pair).server(host).version
    except Exception:  # unreachable host, replay without the fact: the report says "unknown"
        return None
    return str(version.product_version) if version.product_version else None


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    drill_summary(terminalreporter, config)
    run = _run(config)
    if run is not None and run.has_target and (run.judged or run._facts_error):
        _write_verdict(terminalreporter, run)
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
    for notice in run.notices:  # again at the end: -q hides the header, and these change the reading
        terminalreporter.write_line(notice, yellow="EXPIRED" in notice or "ignored" in notice)
    if run.exit_code is not None:
        terminalreporter.write_line(f"exit code {run.exit_code}: {exitcodes.MEANING.get(run.exit_code, '')}")


def _write_verdict(terminalreporter: Any, run: AuditRun) -> None:
    from .summary import terminal_lines

    terminalreporter.section("entra-standby verdict", bold=True)
    verbose = terminalreporter.config.get_verbosity() > 0
    # CI logs report 80 columns but are wide; cutting findings to 40 characters there would hide them
    width = max(120, int(getattr(getattr(terminalreporter, "_tw", None), "fullwidth", 120) or 120))
    for line in terminal_lines(_verdicts(run), run.fail_on, verbose=verbose, width=width):
        markup = {line.colour: True} if line.colour else {}
        if line.bold:
            markup["bold"] = True
        terminalreporter.write_line(line.text, **markup)


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
    server = pair.server(target.host) if target.host else None
    run = _run(request.config)
    assert run is not None
    judged = run.judge(spec, pair, server)
    if judged.status is Status.ERROR:
        pytest.fail(f"{spec.id} cannot be evaluated on {target.id}: {judged.reason}", pytrace=False)
    if judged.status is Status.SKIP or (judged.status is Status.WAIVED and not judged.result.findings):
        pytest.skip(judged.reason or f"{spec.id} does not apply to {target.id}")


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
