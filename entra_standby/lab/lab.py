"""``Lab``: a running simulated HA pair (WS-Man + PSRP per server, the tenant and its cloud stand-in).

``with Lab("fixtures/scenarios/healthy-pair.yml") as lab:`` creates a temporary directory with the lab PKI,
starts one ``WSManServer`` per server on its own 127.0.0.x address (random HTTP and HTTPS ports) and the cloud
stand-in (unless ``cloud=False``), applies the scenario's faults, and tears everything down on exit.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from ..errors import LabError
from .context import LabContext, OnPremDirectory, StagingChange
from .cycle import AutoScheduler
from .directory_model import directory_model
from .handlers import LabEngine
from .pki import TlsMaterial, create_client_certificate, create_lab_pki
from .scenario import Scenario, load_scenario
from .state import ServerState, shared_schedule_from_spec
from .stepfaults import FiredFault
from .tenant import CloudApp, SimulatedTenant, TenantUser
from .timefmt import resolve_time
from .wire import LabCredentials, RequestCounters, TransportFaults, WSManServer
from .wizard import LabOperator, Wizard

if TYPE_CHECKING:  # the cloud stand-in (and its JWT library) is imported only when a lab starts it
    from .cloud import CloudStandIn

LAB_DRILL_SETTINGS: dict[str, Any] = {
    "method": "global-settings",
    "hold": 1,
    "poll_interval": 0.2,
    "idle_timeout": 20,
    "export_timeout": 20,
    "cloud_timeout": 20,
    "operator_timeout": 20,
}
"""The ``drill:`` block of every lab inventory."""

TRANSPORT_FAULTS = ("down", "stall", "latency_ms", "http500", "drop", "auth_fail")
DIRECTORY_MODES = ("embedded", "samba", "none")
DIRECTORY_ADDRESS = "127.0.0.10"
"""Where the pair's domain controller listens (ephemeral ports), unless the lab binds all to one address."""


class LabDirectory(Protocol):
    """What the lab needs of its directory: ``EmbeddedDirectory`` (lab/ldapserver) or ``SambaDirectory``
    (lab/samba_directory.py), both built as ``(model, workdir, tls, address)``."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def inventory_block(self) -> dict[str, Any]: ...


STATE_FAULTS = ("adsync_stopped", "malformed_output", "cycle_never_ends", "export_result", "ad_unreachable",
                "password_services_down")


@dataclass(frozen=True)
class CloudEndpoint:
    """Where the cloud stand-in listens and the app registration the harness signs in with."""

    authority_host: str
    graph_url: str
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    certificate_path: Path
    certificate_key_path: Path
    ca_bundle: Path
    canary_user: str | None

    @property
    def authority(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant_id}"


@dataclass
class LabServer:
    """One simulated server: its state, its engine and (when serving) its WS-Man listener."""

    name: str
    role: str
    address: str
    state: ServerState
    engine: LabEngine
    wire: WSManServer | None = None  # set while the lab serves

    def _require_wire(self) -> WSManServer:
        if self.wire is None:
            raise LabError(f"{self.name}: this lab was started without its wire (Lab(..., serve=False))")
        return self.wire

    @property
    def http_port(self) -> int | None:
        return self._require_wire().http_port

    @property
    def https_port(self) -> int | None:
        return self._require_wire().https_port

    @property
    def faults(self) -> TransportFaults:
        return self._require_wire().faults

    @property
    def counters(self) -> RequestCounters:
        return self._require_wire().counters


def _lab_password() -> str:
    """A fresh random password per lab: each wire server keeps its own private NTLM user file, so labs
    side by side in one process may hold different passwords for the same user name."""
    return secrets.token_urlsafe(18)


class Lab:
    """A simulated Entra Connect HA pair, driven by a scenario. Use as a context manager."""

    def __init__(
        self,
        scenario: str | Path | dict[str, Any] | Scenario,
        *,
        serve: bool = True,
        cloud: bool = True,
        bind_address: str | None = None,
        directory: str = "embedded",
    ) -> None:
        """``serve=False`` builds state and engines only (no sockets), for engine-level tests.

        ``bind_address`` puts every server on one address (default: each server's own 127.0.0.x).
        ``directory``: the pair's domain controller the inventory's ``directory:`` block points at (while
        serving): ``embedded`` (an LDAP endpoint in this process), ``samba`` (a real Samba AD DC seeded from
        the same model) or ``none`` (no block: the sync servers' own AD reads are judged, as without one).
        """
        if directory not in DIRECTORY_MODES:
            raise LabError(f"unknown lab directory {directory!r}",
                           fix=f"use one of {', '.join(DIRECTORY_MODES)}")
        self.directory_mode = directory
        self._source = scenario
        self._serve = serve
        self._want_cloud = cloud
        self._bind_address = bind_address
        self.scenario: Scenario | None = None
        self.servers: dict[str, LabServer] = {}
        self.context: LabContext | None = None
        self.tenant: SimulatedTenant | None = None
        self.cloud: CloudEndpoint | None = None
        self.credentials: LabCredentials | None = None
        self.directory: Path | None = None
        self.ca_path: Path | None = None
        self.tls: TlsMaterial | None = None
        self._cloud_server: CloudStandIn | None = None
        self.dc: LabDirectory | None = None  # the pair's directory while serving (directory != "none")
        self.auto_scheduler: AutoScheduler | None = None  # the scenario's lab.auto_cycle_interval_s
        self._started = False

    # -- lifecycle ----------------------------------------------------------------------------------------

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Lab:
        if self._started:
            raise LabError("this lab is already running")
        scenario = self._source if isinstance(self._source, Scenario) else load_scenario(self._source)
        self.scenario = scenario
        self._started = True
        try:
            self._build(scenario)
            if self._serve:
                self._start_wire(scenario)
            self._apply_faults(scenario)
            self._start_scheduler(scenario)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop cycles, listeners and the cloud stand-in; remove the temporary directory. Idempotent."""
        if self.context is not None:
            self.context.stopping.set()
        if self.auto_scheduler is not None:
            self.auto_scheduler.join(timeout=5)
            self.auto_scheduler = None
        for server in self.servers.values():
            server.engine.cycle.join(timeout=10)
            if server.wire is not None:
                try:
                    server.wire.stop()
                finally:
                    server.wire = None
        if self._cloud_server is not None:
            try:
                self._cloud_server.stop()
            finally:
                self._cloud_server = None
        if self.dc is not None:
            try:
                self.dc.stop()
            finally:
                self.dc = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
        self._started = False

    # -- construction -------------------------------------------------------------------------------------

    def _build(self, scenario: Scenario) -> None:
        start = scenario.start
        self.directory = Path(tempfile.mkdtemp(prefix=f"entra-standby-lab-{scenario.name}-"))
        settings = scenario.lab
        self.credentials = LabCredentials(
            username=f"{settings['domain']}\\{settings['username']}", password=_lab_password()
        )
        self.tenant = _tenant(scenario.tenant, start)
        onprem = OnPremDirectory()
        canary = scenario.tenant.get("canary_user")
        if canary:
            onprem.add_user(canary)
            for attribute, value in (scenario.tenant.get("canary_attributes") or {}).items():
                onprem.set_attribute(canary, attribute, value)
        self.context = LabContext(
            start=start,
            tenant=self.tenant,
            directory=onprem,
            cycle_duration_s=float(settings["cycle_duration_s"]),
        )
        # One object for the pair: scheduler settings live in the tenant (scenario.py checks they agree).
        shared = shared_schedule_from_spec(scenario.tenant["scheduler"])
        for name, spec in scenario.servers.items():
            state = ServerState.from_spec(name, spec, start, shared)
            faults = spec["faults"]
            state.adsync_stopped = bool(faults["adsync_stopped"])
            state.malformed_output = set(faults["malformed_output"])
            state.cycle_never_ends = bool(faults["cycle_never_ends"])
            state.export_result = faults["export_result"]
            state.ad_unreachable = bool(faults["ad_unreachable"])
            state.password_services_down = bool(faults["password_services_down"])
            state.imported_directory = onprem.snapshot()  # both servers imported the directory as it is
            state.ps51_unrolling = bool(spec["ps51_unrolling"])
            self.context.staging_log.record(state, state.staging)  # the state at lab start
            self.servers[name] = LabServer(
                name=name,
                role=state.role,
                address=state.address,
                state=state,
                engine=LabEngine(state, self.context),
            )

    def _pki(self) -> TlsMaterial:
        assert self.directory is not None
        addresses = sorted(
            {s.address for s in self.servers.values()}
            | {"127.0.0.1"}
            | ({self._bind_address} if self._bind_address else set())
            | ({self._directory_address()} if self.directory_mode != "none" else set())
        )
        tls = create_lab_pki(self.directory / "pki", addresses, ("localhost",))
        self.tls, self.ca_path = tls, tls.ca_pem
        return tls

    def _start_wire(self, scenario: Scenario) -> None:
        tls = self._pki()
        assert self.credentials is not None
        for server in self.servers.values():
            wire = WSManServer(
                server.engine,
                name=server.name,
                credentials=self.credentials,
                bind_address=self._bind_address or server.address,
                http_port=0,
                https_port=0,
                tls=tls,
                allow_basic_over_http=bool(scenario.lab["allow_basic_over_http"]),
            )
            try:
                wire.start()
            except OSError as error:
                raise LabError(
                    f"{server.name}: cannot listen on {server.address} ({error})",
                    fix="use 127.0.0.x loopback addresses, or Lab(..., bind_address='127.0.0.1')",
                ) from None
            server.wire = wire
            server.engine.go_down = functools.partial(setattr, wire.faults, "down", True)
        self._start_directory(tls)
        self._start_cloud(tls)

    def _directory_address(self) -> str:
        return self._bind_address or DIRECTORY_ADDRESS

    def _start_directory(self, tls: TlsMaterial) -> None:
        """The pair's DC, serving the directory model of the servers' state as the lab starts."""
        if self.directory_mode == "none":
            return
        assert self.directory is not None
        workdir = self.directory / "dc"
        workdir.mkdir(mode=0o700)
        dc: LabDirectory
        try:
            model = directory_model([s.state for s in self.servers.values()])
            if self.directory_mode == "embedded":
                from .ldapserver import EmbeddedDirectory

                dc = EmbeddedDirectory(model, workdir, tls, self._directory_address())
            else:  # "samba": the real DC (lab/samba_directory.py), imported only when asked for
                samba = importlib.import_module(".samba_directory", __package__)
                dc = samba.for_lab(self, self._bind_address)
        except LabError as exc:
            raise LabError(f"the lab's {self.directory_mode} directory cannot serve this scenario: "
                           f"{exc.reason}",
                           fix=exc.fix or "serve it without a directory (Lab(..., directory='none'), "
                           "lab serve --directory none)") from None
        dc.start()
        self.dc = dc

    def _start_cloud(self, tls: TlsMaterial) -> None:
        if not self._want_cloud:
            return
        from .cloud import CloudStandIn

        assert self.tenant is not None and self.scenario is not None and self.directory is not None
        cert_path, key_path = create_client_certificate(self.directory / "pki", "entra-standby-lab-app")
        app = self.tenant.apps[self.scenario.tenant["client_id"]]
        with self.tenant.lock:  # the stand-in accepts the secret and the certificate
            self.tenant.apps[app.client_id] = CloudApp(
                client_id=app.client_id,
                client_secret=app.client_secret,
                certificate_pem=cert_path.read_bytes(),
                roles=app.roles,
            )
        cloud = CloudStandIn(self.tenant, tls=tls, bind_address="127.0.0.1")
        cloud.start()
        self._cloud_server = cloud
        base = str(cloud.base_url).rstrip("/")
        self.cloud = CloudEndpoint(
            authority_host=base,
            graph_url=base,
            tenant_id=self.tenant.tenant_id,
            client_id=app.client_id,
            client_secret=app.client_secret or "",
            certificate_path=cert_path,
            certificate_key_path=key_path,
            ca_bundle=tls.ca_pem,
            canary_user=self.scenario.tenant.get("canary_user"),
        )

    @property
    def cloud_server(self) -> CloudStandIn | None:
        """The running ``CloudStandIn`` (``.faults``, ``.counters``); None when started with cloud=False."""
        return self._cloud_server

    def _start_scheduler(self, scenario: Scenario) -> None:
        interval = scenario.lab.get("auto_cycle_interval_s")
        if interval is None or self.context is None:
            return
        runners = [server.engine.cycle for server in self.servers.values()]
        self.auto_scheduler = AutoScheduler(runners, float(interval), self.context.stopping)
        self.auto_scheduler.start()

    def _apply_faults(self, scenario: Scenario) -> None:
        for name, spec in scenario.servers.items():
            faults = spec["faults"]
            transport = {k: faults[k] for k in TRANSPORT_FAULTS if faults[k] not in (False, 0, [])}
            if transport and self.servers[name].wire is not None:
                self.set_fault(name, **transport)

    # -- faults -------------------------------------------------------------------------------------------

    def set_fault(self, server: str, **faults: Any) -> None:
        """Change faults of one server at run time: transport (down, stall, latency_ms, http500, drop,
        auth_fail) and state (adsync_stopped, malformed_output, cycle_never_ends, export_result,
        ad_unreachable). ``stall``/``http500``/``drop`` take WS-Man action names (``"Receive"``, ``"*"``);
        ``malformed_output`` takes probe names; ``cycle_never_ends=True`` keeps a started cycle in progress
        (busy) until set False; ``export_result="stopped-connectivity"`` (any result string) ends every
        Export run with it and exports nothing (None clears it); ``ad_unreachable=True`` makes write-canary
        fail as a double hop does; ``password_services_down=True``: PHS and writeback write no evidence after
        un-staging (no 31015/31019/654, frozen partition timestamps)."""
        target = self.server(server)
        for key, value in faults.items():
            if key == "adsync_stopped":
                with target.state.lock:
                    target.state.adsync_stopped = bool(value)
            elif key == "malformed_output":
                with target.state.lock:
                    target.state.malformed_output = {value} if isinstance(value, str) else set(value)
            elif key in ("cycle_never_ends", "ad_unreachable", "password_services_down"):
                with target.state.lock:
                    setattr(target.state, key, bool(value))
            elif key == "export_result":
                with target.state.lock:
                    target.state.export_result = None if value in (None, False, "") else str(value)
            elif key in TRANSPORT_FAULTS:
                setattr(target.faults, key, value)
            else:
                raise LabError(
                    f"{server}: unknown fault '{key}'",
                    fix=f"use one of {', '.join(TRANSPORT_FAULTS + STATE_FAULTS)}",
                )

    def clear_faults(self, server: str | None = None) -> None:
        """Every fault off, on one server or all."""
        for target in [self.server(server)] if server else list(self.servers.values()):
            with target.state.lock:
                target.state.adsync_stopped = False
                target.state.malformed_output = set()
                target.state.cycle_never_ends = False
                target.state.export_result = None
                target.state.ad_unreachable = False
                target.state.password_services_down = False
            target.engine.step_faults.clear()
            if target.wire is not None:
                target.faults.clear()

    def arm_fault(self, server: str, *, on: str, fault: str, when: str = "before", times: int = 1) -> None:
        """Arm a fault on the next ``times`` calls of ``on`` on one server.

        ``on``: a probe or action name (``"set-staging"``, ``"start-sync-cycle"``, ``"scheduler"``,
        ``"run-history"``, ...), a cmdlet name (``"Start-ADSyncSyncCycle"``) or ``"*"`` (any pipeline).
        ``fault``: ``down`` (the server goes down and stays down until ``clear_faults``/``set_fault(down=
        False)``), ``stall`` (never answered), ``http500`` (a WS-Man fault), ``drop`` (the connection is
        hung up). ``when="before"``: the call is not applied and the fault answers; ``"after"``: the call IS
        applied and its answer is lost that way.
        """
        target = self.server(server)
        if fault == "down" and target.wire is None:
            raise LabError(f"{server}: the 'down' fault needs the wire (Lab(..., serve=True))")
        try:
            target.engine.step_faults.arm(on, fault, when, times)
        except ValueError as error:
            raise LabError(f"{server}: {error}", fix="see Lab.arm_fault's documentation") from None

    def fired_faults(self, server: str) -> list[FiredFault]:
        """The armed faults of one server that went off, in order: (on, fault, when)."""
        return self.server(server).engine.step_faults.fired

    def wizard(self, server: str) -> Wizard:
        """The Entra Connect wizard on one server, for a test to play the operator (see lab/wizard.py)."""
        target = self.server(server)
        return Wizard(target.state, self._context(), target.engine.cycle)

    def operator(self, *, hold_s: float = 0.3, start_sync: bool = False, acts: bool = True) -> LabOperator:
        """An operator for the drill's wizard method: follows each ``instruct(server, text)`` with this lab's
        wizard (servers named by address, lab name or computer name); see lab/wizard.py."""
        wizards: dict[str, Callable[[], Wizard]] = {}
        for name, target in self.servers.items():
            factory = functools.partial(self.wizard, name)
            for key in (name, target.address, target.state.computer_name):
                wizards[key] = factory
        return LabOperator(wizards, hold_s=hold_s, start_sync=start_sync, acts=acts)

    # -- queries ------------------------------------------------------------------------------------------

    def server(self, name: str) -> LabServer:
        try:
            return self.servers[name]
        except KeyError:
            raise LabError(f"no server '{name}' in this lab (servers: {', '.join(self.servers)})") from None

    @property
    def staging_log(self) -> list[StagingChange]:
        """Every staging-flag write, in order: (monotonic_ns, utc, server, staging_enabled)."""
        return self._context().staging_log.entries

    def max_unstaged_at_once(self) -> int:
        """The most servers that were ever un-staged at the same moment (must stay <= 1)."""
        return self._context().staging_log.max_unstaged_at_once()

    @property
    def onprem(self) -> OnPremDirectory:
        """The on-premises directory: set a canary attribute here; the next export carries it to Entra."""
        return self._context().directory

    def _context(self) -> LabContext:
        if self.context is None:
            raise LabError("the lab is not running")
        return self.context

    # -- inventory ----------------------------------------------------------------------------------------

    def inventory_dict(self) -> dict[str, Any]:
        """An inventory (docs/contracts.md §4) for this lab: one pair named after the scenario."""
        if not self._started or self.scenario is None or self.credentials is None or self.ca_path is None:
            raise LabError("the lab must be running and serving to describe an inventory")
        pair: dict[str, Any] = {
            "name": self.scenario.name,
            "servers": [
                {
                    "name": s.name,  # test ids and reports say aadc02; the address stays in host
                    "host": s.address if self._bind_address is None else self._bind_address,
                    "role": s.role,
                    "connection": {"port": s.https_port},
                }
                for s in self.servers.values()
            ],
            "connection": {
                "ssl": True,
                "auth": "negotiate",
                "cert_validation": str(self.ca_path),
                "username": self.credentials.username,
                "password": self.credentials.password,
            },
        }
        # The lab is driven by scripts, so it names the scripted switch method; its waits are scaled to
        # the lab's seconds-long cycles (a real pair keeps the documented defaults).
        pair["drill"] = dict(LAB_DRILL_SETTINGS)
        if self.dc is not None:
            pair["directory"] = self.dc.inventory_block()
        if self.cloud is not None:
            pair["cloud"] = {
                "tenant_id": self.cloud.tenant_id,
                "client_id": self.cloud.client_id,
                "client_secret": self.cloud.client_secret,
                "authority_host": self.cloud.authority_host,
                "graph_url": self.cloud.graph_url,
                "ca_bundle": str(self.cloud.ca_bundle),
            }
            if self.cloud.canary_user:
                pair["cloud"]["canary_user"] = self.cloud.canary_user
        return {"pairs": [pair]}

    def write_inventory(self, path: str | Path) -> Path:
        """Write ``inventory_dict()`` as YAML, readable by the owner only (it holds the lab password)."""
        return write_private_inventory(
            path, self.inventory_dict(),
            "# entra-standby lab inventory: holds the lab password; valid while the lab runs")


def write_private_inventory(path: str | Path, inventory: dict[str, Any], first_line: str) -> Path:
    """Write a lab's inventory as YAML, owner-only, whole or not at all; ``first_line`` marks it as a lab's
    (the plugin announces such a file as TARGET: LAB)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    # O_EXCL after removing any leftover: an existing file keeps its mode under O_TRUNC, so a stale
    # world-readable partial (or a link planted there) would receive the password.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(partial)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(first_line + "\n")
        yaml.safe_dump(inventory, handle, sort_keys=False)
    os.replace(partial, target)  # readers never see half a file
    return target


def _tenant(settings: dict[str, Any], start: datetime) -> SimulatedTenant:
    tenant_id = settings["tenant_id"]
    tenant = SimulatedTenant(
        tenant_id=tenant_id,
        domain=settings["domain"],
        display_name=settings["display_name"],
        sync_enabled=settings["sync_enabled"],
        last_sync=resolve_time(settings["last_sync"], start),
        last_password_sync=resolve_time(settings["last_password_sync"], start),
    )
    canary = settings.get("canary_user")
    if canary:
        tenant.users[canary.lower()] = TenantUser(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"entra-standby-lab/{tenant_id}/{canary.lower()}")),
            user_principal_name=canary,
            on_premises_sync_enabled=True,
            on_premises_last_sync=tenant.last_sync,
            extension_attributes=dict(settings.get("canary_attributes") or {}),
        )
    client_id = settings["client_id"]
    tenant.apps[client_id] = CloudApp(client_id=client_id, client_secret=secrets.token_urlsafe(32))
    return tenant
