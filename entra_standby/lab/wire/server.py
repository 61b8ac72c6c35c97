"""``WSManServer``: one simulated Windows host's WinRM endpoint (HTTP and/or HTTPS) on a loopback address."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from entra_standby.errors import LabError
from entra_standby.lab.engine import ScriptEngine
from entra_standby.lab.pki import TlsMaterial
from entra_standby.lab.serving import require_loopback, tls_server_context
from entra_standby.lab.wire.auth import LabCredentials, NtlmUserStore, tls_server_end_point
from entra_standby.lab.wire.counters import RequestCounters
from entra_standby.lab.wire.dispatch import Dispatcher
from entra_standby.lab.wire.faults import TransportFaults
from entra_standby.lab.wire.http import Listener, Transport
from entra_standby.lab.wire.shells import ShellRegistry

log = logging.getLogger(__name__)


@dataclass
class WireApp:
    """What every connection handler of one server shares."""

    name: str
    credentials: LabCredentials
    faults: TransportFaults
    counters: RequestCounters
    dispatcher: Dispatcher
    allow_basic_over_http: bool
    max_body_bytes: int
    users: NtlmUserStore
    stopping: threading.Event = field(default_factory=threading.Event)


class WSManServer:
    """A WinRM endpoint speaking WS-Management + PSRP that unmodified pypsrp can use.

    ``http_port``/``https_port``: 0 picks a free port, None disables that listener (HTTPS also needs
    ``tls``). Authentication: Basic (HTTPS only unless ``allow_basic_over_http``) and Negotiate/NTLM
    (message encryption over HTTP; channel binding enforced over HTTPS). See ``auth`` for how one
    process serves several labs' NTLM users (one private user file per server, no environment changes).
    """

    def __init__(self, engine: ScriptEngine, *, name: str, credentials: LabCredentials,
                 bind_address: str = "127.0.0.1", http_port: int | None = 0, https_port: int | None = 0,
                 tls: TlsMaterial | None = None, allow_basic_over_http: bool = False,
                 faults: TransportFaults | None = None, max_body_bytes: int = 1_000_000,
                 shell_idle_timeout_s: float = 600) -> None:
        self.name = name
        self.bind_address = require_loopback(bind_address, f"{name}: bind address")
        if https_port not in (None, 0) and tls is None:
            raise LabError(f"{name}: an HTTPS port was requested without TLS material",
                           fix="pass tls=create_lab_pki(...)")
        if http_port is None and (https_port is None or tls is None):
            raise LabError(f"{name}: neither an HTTP nor an HTTPS listener is configured")
        self._engine = engine
        self._credentials = credentials
        self._tls = tls
        self._idle_timeout_s = shell_idle_timeout_s
        self.faults = faults if faults is not None else TransportFaults()
        self.counters = RequestCounters()
        self._lock = threading.RLock()
        self._running = False
        self._app = self._new_app(allow_basic_over_http, max_body_bytes)

        self._listeners: dict[str, Listener] = {}
        if http_port is not None:
            self._listeners["http"] = Listener(self._app, self.bind_address, http_port,
                                               Transport("http", None, None))
        if https_port is not None and tls is not None:
            transport = Transport("https", tls_server_context(tls), tls_server_end_point(tls.cert_pem))
            self._listeners["https"] = Listener(self._app, self.bind_address, https_port, transport)

    def _new_app(self, allow_basic_over_http: bool, max_body_bytes: int) -> WireApp:
        stopping = threading.Event()
        shells = ShellRegistry(self._engine, stopping=stopping, idle_timeout_s=self._idle_timeout_s)
        return WireApp(name=self.name, credentials=self._credentials, faults=self.faults,
                       counters=self.counters, dispatcher=Dispatcher(shells),
                       allow_basic_over_http=allow_basic_over_http,
                       max_body_bytes=max_body_bytes, users=NtlmUserStore(self._credentials),
                       stopping=stopping)

    # -- properties ----------------------------------------------------------------------------------------
    @property
    def credentials(self) -> LabCredentials:
        return self._credentials

    @property
    def http_port(self) -> int | None:
        listener = self._listeners.get("http")
        return listener.port if listener else None

    @property
    def https_port(self) -> int | None:
        listener = self._listeners.get("https")
        return listener.port if listener else None

    @property
    def http_url(self) -> str | None:
        listener = self._listeners.get("http")
        return listener.url if listener else None

    @property
    def https_url(self) -> str | None:
        listener = self._listeners.get("https")
        return listener.url if listener else None

    @property
    def running(self) -> bool:
        return self._running

    # -- life cycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._app.users.open()
            self._app.stopping.clear()
            try:
                if not self.faults.down:
                    self._open_listeners()
            except OSError as exc:
                self._close_listeners()
                self._app.users.close()
                raise LabError(f"{self.name}: cannot listen on {self.bind_address}: {exc}") from exc
            self.faults.subscribe_down(self._on_down_changed)
            self._running = True
            log.info("%s: WS-Man listening on %s", self.name,
                     ", ".join(listener.url for listener in self._listeners.values()))

    def stop(self) -> None:
        with self._lock:
            if not self._running:
                return
            self._running = False
            self.faults.unsubscribe_down(self._on_down_changed)
            self._app.stopping.set()
            self._close_listeners()
            self._app.dispatcher.shells.close_all()
            self._app.users.close()

    def restart(self) -> None:
        """Stop and start on the same ports; every shell is forgotten (clients then get 2150858843)."""
        with self._lock:
            self.stop()  # closes every shell
            self.start()

    def _open_listeners(self) -> None:
        for listener in self._listeners.values():
            listener.open()

    def _close_listeners(self) -> None:
        for listener in self._listeners.values():
            listener.close()

    def _on_down_changed(self, down: bool) -> None:
        with self._lock:
            if not self._running:
                return
            if down:
                self._close_listeners()
            else:
                self._open_listeners()

    def __enter__(self) -> WSManServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        urls = ", ".join(listener.url for listener in self._listeners.values())
        return f"WSManServer(name={self.name!r}, {urls}, running={self._running})"
