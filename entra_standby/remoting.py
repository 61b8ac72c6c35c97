"""One PSRP session per host: open a runspace pool once, run probes in one pipeline, translate errors.

This is the only module that talks to pypsrp and requests. Everything they raise is translated here, once,
into ``entra_standby.errors`` (``UnreachableError``, ``AuthenticationFailedError``, ``RemotingError``,
``ProbeError``), with the password scrubbed from every message.

Round trips: all probes go as statements of ONE pipeline (built and serialised once per run by
``prepared.py``: the shared helpers first, once, then each probe in its own local scope), so a full audit
costs Create + open Receive + Command + Receive(s) + Delete plus the authentication handshake. If that
pipeline fails, each probe is re-run on its own (its whole standalone text) so only the failing fact errors.

Time bounds: pypsrp's defaults (30 s reads, five silent Receive retries) hold a stalled host for about five
minutes. Here every HTTP request has an explicit connect and read timeout, ``operation_timeout`` stays
below ``read_timeout`` so a healthy long-poll always answers in time, and pypsrp's Receive retries are
capped (``_BoundedWSMan``): a read timeout means the host stalled. Transient connection errors (refused,
reset, dropped, HTTP 503/429) are retried a few times with tenacity, each time on a *new* ``WSMan``:
pypsrp cannot reuse an NTLM-encrypted transport after its connection dropped.

Total deadline (``connection.host_timeout``): ``read_timeout`` bounds the wait *between* bytes, so a host
that trickles one byte a second would hold its session forever. A gathering session (``HostSession(...,
deadline_s=...)``) therefore carries a ``_Deadline``: a timer that, when the host's total time is up, marks
the session expired and shuts down every socket the session opened (tracked through the urllib3 pool
classes of its own ``requests`` session), so a blocked read returns at once; every later request is refused
before it is sent. The host then errors with ``HostDeadlineError`` (its own reason, kind ``deadline``).
``gather`` also stops waiting for a host shortly after its deadline, so nothing inside one host can delay
another's verdict.
Sessions that change servers (the drill) have no deadline: they are bounded by their own step timeouts.

Per-probe budget (``connection.probe_timeout``, review item X4): the batched pipeline is driven with
``begin_invoke``/``poll_invoke``; each probe prints one JSON document, in statement order, so the number of
output objects says which probe is running. If no new output arrives within ``probe_timeout`` (checked every
long-poll, so within ``operation_timeout`` of the budget), the pipeline is stopped, the probes that finished
keep their output, the running one errors alone ("did not finish within ..."), and the probes after it run
again as a new batch with fresh budgets. A slow probe costs its own fact and one budget, never the others.

Certificates: ``cert_validation`` may be a CA bundle path. pypsrp puts it on ``Session.verify`` and sends
with ``Session.send`` (which, unlike ``Session.request``, does not merge ``REQUESTS_CA_BUNDLE`` over it),
so the path wins over that environment variable; for ``cert_validation: true`` pypsrp uses the
environment's bundle on purpose (the system store). ``tests/test_remoting.py`` proves the CA path works
with ``REQUESTS_CA_BUNDLE`` pointing elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
import time
import weakref
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
import tenacity
from pypsrp.complex_objects import PSInvocationState
from pypsrp.exceptions import (
    AuthenticationError,
    WinRMError,
    WinRMTransportError,
    WSManFaultError,
)
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import NAMESPACES, WSMan

from . import wsman_xml
from .errors import (
    AuthenticationFailedError,
    EntraStandbyError,
    HostDeadlineError,
    HostError,
    ProbeError,
    RemotingError,
    UnreachableError,
)
from .inventory import ConnectionSettings, ServerEntry, is_loopback
from .lean_prepare import lean_prepare
from .prepared import PreparedBatch, begin_prepared, pool_settings, prepare_batch
from .prepared_pool import open_pool
from .probes.wire import probe_sent_alone

__all__ = ["HostSession", "ProbeCall", "deadline_error", "drive_pipeline", "probe_calls", "translate_error"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# pypsrp logs request bodies at DEBUG (encrypted or not, they may carry data we do not want in logs).
for _noisy in ("requests_credssp", "spnego", "urllib3"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)
# pypsrp also logs every failed request with ``log.exception`` (ERROR, with the whole chained traceback)
# before raising it; this module translates each of those exceptions into one line, so its own records
# would only repeat them as tracebacks in pytest's "Captured log" and in CI logs.
logging.getLogger("pypsrp").setLevel(logging.CRITICAL)

_RETRY_WAIT_S = 0.25  # first wait between attempts on a transient error; doubles, capped at 1 s


@dataclass(frozen=True)
class ProbeCall:
    """One script to run: its name (the fact domain), its text (a catalogue probe travels in its wire form,
    probes/wire.py) and named parameters."""

    name: str
    text: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


def probe_calls(names: Sequence[str] | None = None,
                parameters: Mapping[str, Mapping[str, Any]] | None = None) -> list[ProbeCall]:
    """The catalogue's probes (all of ``PROBE_NAMES`` by default) as calls, with optional parameters
    (default: the audit batch's, ``probes.AUDIT_PARAMETERS``)."""
    from .probes import AUDIT_PARAMETERS, PROBE_NAMES, load_probe

    chosen = list(names) if names is not None else list(PROBE_NAMES)
    params = parameters if parameters is not None else AUDIT_PARAMETERS
    return [ProbeCall(name, load_probe(name).text, dict(params.get(name, {}))) for name in chosen]


class _Deadline:
    """One host's total time budget. At expiry it shuts down the sockets its session opened, so a read
    blocked on a trickling host returns now instead of one byte at a time, forever."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self._expired = threading.Event()
        self._lock = threading.Lock()
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._timer = threading.Timer(seconds, self.expire)
        self._timer.daemon = True  # never keeps the process alive
        self._timer.start()

    @property
    def expired(self) -> bool:
        return self._expired.is_set() or time.monotonic() >= self.ends

    def remaining(self) -> float:
        return max(0.0, self.ends - time.monotonic())

    def track(self, connection: Any) -> Any:
        with self._lock:
            self._connections.add(connection)
        if self._expired.is_set():
            _shut(connection)
        return connection

    def track_socket(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.add(sock)
        if self._expired.is_set():
            _shut_socket(sock)
        return sock

    def expire(self) -> None:
        self._expired.set()
        with self._lock:
            connections, sockets = list(self._connections), list(self._sockets)
        for connection in connections:
            _shut(connection)
        for sock in sockets:
            _shut_socket(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        _shut_socket(sock)


def _shut_socket(sock: Any) -> None:
    # shutdown (not close): the reading thread owns the socket and closes it; a closed fd could be reused.
    with contextlib.suppress(OSError, AttributeError, ValueError):
        sock.shutdown(socket.SHUT_RDWR)


class _DeadlineExpired(Exception):
    """Internal: a request was about to be sent after the host's deadline."""


def _track_connections(session: requests.Session, deadline: _Deadline) -> None:
    """Register every urllib3 connection the session's adapters create with ``deadline``."""
    for adapter in session.adapters.values():
        manager = getattr(adapter, "poolmanager", None)
        if manager is None:
            continue
        classes = dict(manager.pool_classes_by_scheme)
        for scheme, pool_cls in classes.items():
            classes[scheme] = functools.partial(_tracked_pool, pool_cls, deadline)
        manager.pool_classes_by_scheme = classes


def _tracked_pool(pool_cls: Any, deadline: _Deadline, *args: Any, **kwargs: Any) -> Any:
    pool = pool_cls(*args, **kwargs)
    connection_cls = pool.ConnectionCls

    def tracked_connection(*c_args: Any, **c_kwargs: Any) -> Any:
        return deadline.track(_track_raw_socket(connection_cls(*c_args, **c_kwargs), deadline))

    pool.ConnectionCls = tracked_connection
    return pool


def _track_raw_socket(connection: Any, deadline: _Deadline) -> Any:
    """Also track the plain socket a connection opens: during a TLS handshake ``connection.sock`` is not
    set yet, and a host can trickle its handshake as well as its answers."""
    new_conn = getattr(connection, "_new_conn", None)
    if new_conn is None:
        return connection

    def tracked_new_conn(*args: Any, **kwargs: Any) -> Any:
        return deadline.track_socket(new_conn(*args, **kwargs))

    connection._new_conn = tracked_new_conn
    return connection


class _BoundedWSMan(WSMan):
    """pypsrp's WSMan with its built-in Receive retries capped (they multiply a stalled host's wait), and,
    for a gathering session, every request checked against the host's total deadline."""

    def __init__(self, *args: Any, receive_retries: int = 0, deadline: _Deadline | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._receive_retries = receive_retries
        _resolve_proxies_on_build(self.transport)
        _lean_prepare_on_build(self.transport)
        if deadline is not None:
            _bind_deadline(self.transport, deadline)

    def invoke(self, action: str, resource_uri: str, resource: ET.Element | None, option_set: Any = None,
               selector_set: Any = None, timeout: int | None = None, *,
               retries_on_read_timeout: int = 0) -> ET.Element:
        """pypsrp 0.9's ``WSMan.invoke``, the envelope written by ``wsman_xml`` (same bytes, a fifth of the
        CPU); the Receive retries capped."""
        retries = min(retries_on_read_timeout, self._receive_retries)
        message_id, xml = wsman_xml.envelope(self, action, resource_uri, resource, option_set, selector_set,
                                             timeout)
        http_timeout = timeout + 2 if timeout else None  # as pypsrp: past the WS-Man operation timeout
        try:
            response = self.transport.send(xml, retries_on_read_timeout=retries, timeout=http_timeout)
        except WinRMTransportError as err:
            try:
                raise self._parse_wsman_fault(err.response_text) from err
            except ET.ParseError:  # no XML: not a WS-Man fault
                raise err  # noqa: B904  # as pypsrp: the transport error itself
        response_xml = ET.fromstring(response)
        relates_to_et = response_xml.find("s:Header/wsa:RelatesTo", namespaces=NAMESPACES)
        relates_to = relates_to_et.text if relates_to_et is not None else ""
        if message_id != relates_to:
            raise WinRMError("Received related id does not match related expected message id: Sent: "
                             f"{message_id}, Received: {relates_to}")
        return response_xml

    def _calc_envelope_size(self, max_envelope_size: int) -> int:
        return wsman_xml.envelope_size(self, max_envelope_size)


def _resolve_proxies_on_build(transport: Any) -> None:
    """Resolve the host's proxy once, when pypsrp builds its session, instead of on every request.

    pypsrp's session trusts the environment, so ``requests`` re-reads every proxy variable of
    ``os.environ`` for each request (``Session.send`` -> ``resolve_proxies``): a tenth of the client's CPU
    per host in issue 13's profile. The endpoint never changes within a session, so resolving it once with
    ``requests``' own ``resolve_proxies`` (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY; an explicit proxy or
    pypsrp's ``no_proxy`` still win) gives every request the same proxy as before; only then is
    ``trust_env`` turned off. Only for a session with an ``auth`` handler (every auth pypsrp builds except
    certificate auth): ``trust_env`` also lets ``requests`` add ``.netrc`` credentials to a request that
    has none, and that stays as it was."""
    build = transport._build_session

    def build_resolved() -> requests.Session:
        session: requests.Session = build()
        if session.trust_env and session.auth is not None:
            scheme = "https" if transport.ssl else "http"
            if scheme not in session.proxies:  # else resolve_proxies would only copy them (setdefault)
                target = requests.Request("POST", transport.endpoint).prepare()
                session.proxies = requests.utils.resolve_proxies(target, dict(session.proxies), True)
            session.trust_env = False
        return session

    transport._build_session = build_resolved


def _lean_prepare_on_build(transport: Any) -> None:
    """Prepare pypsrp's requests without ``requests``' general merging (``lean_prepare.py``)."""
    build = transport._build_session

    def build_lean() -> requests.Session:
        session: requests.Session = build()
        lean_prepare(session, transport.endpoint)
        return session

    transport._build_session = build_lean


def _bind_deadline(transport: Any, deadline: _Deadline) -> None:
    """Refuse requests after the deadline; track the sockets of the session pypsrp builds lazily."""
    build, send = transport._build_session, transport.send

    def build_tracked() -> requests.Session:
        session: requests.Session = build()
        _track_connections(session, deadline)
        return session

    def send_unless_expired(*args: Any, **kwargs: Any) -> Any:
        if deadline.expired:
            raise _DeadlineExpired()
        return send(*args, **kwargs)

    transport._build_session = build_tracked
    transport.send = send_unless_expired


class _Transient(Exception):
    """Internal: a retryable failure, carrying the original exception."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


class HostSession:
    """One host's remoting session for a run: one runspace pool, reused by every script.

    Thread-safe for sequential use from several threads (a lock serialises calls); the gatherer uses one
    session per host, hosts in parallel.
    """

    def __init__(self, server: ServerEntry, *, receive_retries: int = 0,
                 deadline_s: float | None = None) -> None:
        self.server = server
        self.host = server.host
        self.settings: ConnectionSettings = server.connection
        self._receive_retries = receive_retries
        self._wsman: WSMan | None = None
        self._pool: RunspacePool | None = None
        self._lock = threading.Lock()
        self.reconnects = 0  # how many times the transport was rebuilt after a transient error
        # The total deadline starts now (connect + every request + every probe), see the module docstring.
        self._deadline = _Deadline(deadline_s) if deadline_s is not None else None

    # --- lifecycle ---------------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the runspace pool (with bounded retries); raises a ``HostError`` subclass on failure."""
        with self._lock:
            self._with_retries(self._ensure_pool)

    def close(self) -> None:
        """Close the pool (one Delete) if it is healthy; never raises."""
        with self._lock:
            pool, wsman = self._pool, self._wsman
            self._pool = self._wsman = None
            deadline, self._deadline = self._deadline, None
            if deadline is not None:
                deadline.cancel()
                if deadline.expired:  # the host had its time: no Delete, just drop the sockets
                    pool = None
            if pool is not None:
                try:
                    pool.close()
                except Exception as exc:  # best effort: the shell times out on the server anyway
                    log.debug("%s: closing the runspace pool failed: %s", self.host, self._scrub(str(exc)))
            if wsman is not None:
                _close_transport(wsman)

    def __enter__(self) -> HostSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- running scripts ---------------------------------------------------------------------------------

    def run_probes(self, calls: Sequence[ProbeCall]) -> dict[str, str | ProbeError]:
        """Run every call as one pipeline; return each call's raw output (one string) or its ``ProbeError``.

        Raises a ``HostError`` (unreachable, auth, remoting, deadline) when the host itself cannot be used.
        """
        if not calls:
            return {}
        with self._lock:
            results: dict[str, str | ProbeError] = {}
            pending = list(calls)
            while pending:
                batch = pending
                outcome = self._with_retries(functools.partial(self._run_batch, batch))
                if outcome.complete:
                    for call, out in zip(batch, outcome.outputs, strict=True):
                        results[call.name] = _as_text(out)
                    return results
                if outcome.overrun is None:
                    break
                # X4: keep what finished, error the probe that overran, run the rest with fresh budgets.
                done = len(outcome.outputs)
                if done >= len(batch):  # every probe printed; only the pipeline's end was late
                    for call, out in zip(batch, outcome.outputs, strict=False):
                        results[call.name] = _as_text(out)
                    return results
                for call, out in zip(batch[:done], outcome.outputs, strict=True):
                    results[call.name] = _as_text(out)
                results[batch[done].name] = self._overrun_error(batch[done])
                pending = batch[done + 1:]
            if not pending:
                return results
            log.info("%s: the batched probe pipeline failed; running each probe on its own", self.host)
            for call in pending:
                results[call.name] = self._with_retries(functools.partial(self._run_single, call))
            return results

    def run_script(self, call: ProbeCall, *, idempotent: bool = True) -> list[Any]:
        """Run one script and return its output objects; a failed pipeline raises ``ProbeError``.

        ``idempotent=False`` disables the retry (a script that changes the server is never re-sent blindly).
        """
        with self._lock:
            def once() -> list[Any]:
                output, error = self._invoke(call)
                if error is not None:
                    raise ProbeError(self.host, call.name, f"pipeline failed: {error}")
                return output

            return self._with_retries(once, retry=idempotent)

    # --- internals ---------------------------------------------------------------------------------------

    def _build_wsman(self) -> WSMan:
        s = self.settings
        password = s.password.reveal() if s.password is not None else None
        kwargs: dict[str, Any] = {}
        username: Any = s.username
        if s.auth in ("negotiate", "ntlm", "kerberos"):
            kwargs["negotiate_send_cbt"] = s.negotiate_send_cbt
            kwargs.update(kerberos_options(s))
            username = kerberos_username(s)
        return _BoundedWSMan(
            self.host,
            port=s.effective_port,
            username=username,
            password=password,
            ssl=s.ssl,
            auth=s.auth,
            cert_validation=s.cert_validation,
            connection_timeout=s.connect_timeout,
            read_timeout=s.read_timeout,
            operation_timeout=s.operation_timeout,
            encryption=s.message_encryption,
            reconnection_retries=0,  # retries happen here, on a fresh WSMan each time
            reconnection_backoff=0.1,
            no_proxy=is_loopback(self.host),
            receive_retries=self._receive_retries,
            deadline=self._deadline,
            **kwargs,
        )

    def _ensure_pool(self) -> RunspacePool:
        if self._pool is None:
            self._wsman = self._build_wsman()
            pool = RunspacePool(self._wsman)
            open_pool(pool)  # pool.open(), its messages serialised once per run (prepared_pool.py)
            self._pool = pool
        return self._pool

    def _discard(self) -> None:
        """Forget the pool and transport without talking to the host (it just failed us)."""
        wsman = self._wsman
        self._pool = self._wsman = None
        if wsman is not None:
            _close_transport(wsman)

    def _invoke(self, call: ProbeCall) -> tuple[list[Any], str | None]:
        """Run one script alone: its output objects, and its first error (scrubbed) if the pipeline failed."""
        ps = PowerShell(self._ensure_pool())
        _add_script(ps, call)
        output = list(ps.invoke())
        return output, (self._scrub(_first_error(ps)) if ps.had_errors else None)

    def _run_batch(self, calls: Sequence[ProbeCall]) -> _BatchOutcome:
        ps = PowerShell(self._ensure_pool())
        # Helpers once, serialised once per run (prepared.py); the probes still print one object each.
        prepared = prepare_batch(calls, **pool_settings(ps))
        outcome = drive_pipeline(_PypsrpPipeline(ps, prepared), self.settings.probe_timeout)
        if outcome.overrun is not None:
            log.info("%s: probe %s overran its budget of %g s; stopped its pipeline", self.host,
                     calls[min(len(outcome.outputs), len(calls) - 1)].name, self.settings.probe_timeout)
            return outcome
        if outcome.had_errors or len(outcome.outputs) != len(calls):
            log.info("%s: batched pipeline gave %d outputs for %d probes (failed: %s)", self.host,
                     len(outcome.outputs), len(calls), outcome.had_errors)
            return _BatchOutcome(outcome.outputs, outcome.had_errors, complete=False)
        return outcome

    def _run_single(self, call: ProbeCall) -> str | ProbeError:
        ps = PowerShell(self._ensure_pool())
        _add_script(ps, call)
        outcome = drive_pipeline(_PypsrpPipeline(ps), self.settings.probe_timeout)
        if outcome.overrun is not None:
            return self._overrun_error(call)
        if outcome.had_errors:
            return ProbeError(self.host, call.name, f"pipeline failed: {self._scrub(_first_error(ps))}",
                              fix="run the probe by hand on the server to see the full error")
        output = outcome.outputs
        if len(output) != 1:
            return ProbeError(self.host, call.name, f"expected one JSON document, got {len(output)} outputs",
                              fix="check the probe script on this server's PowerShell version")
        return _as_text(output[0])

    def _overrun_error(self, call: ProbeCall) -> ProbeError:
        return ProbeError(self.host, call.name,
                          f"did not finish within its budget of {self.settings.probe_timeout:g} s; it was "
                          "stopped so the host's other probes could run",
                          fix="run the probe by hand on the server to see what it waits for; raise "
                              "connection.probe_timeout if the server is just slow")

    def _with_retries(self, fn: Callable[[], T], *, retry: bool = True) -> T:
        attempts = self.settings.retries + 1 if retry else 1

        def attempt() -> T:
            if self._deadline is not None and self._deadline.expired:
                raise self._deadline_error()
            try:
                return fn()
            except EntraStandbyError:
                raise
            except Exception as exc:
                if self._deadline is not None and self._deadline.expired:
                    self._discard()
                    raise self._deadline_error() from None
                if _is_transient(exc):
                    self._discard()
                    self.reconnects += 1
                    raise _Transient(exc) from exc
                if not isinstance(exc, WSManFaultError | WinRMTransportError | AuthenticationError):
                    self._discard()
                raise

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_exponential(multiplier=_RETRY_WAIT_S, max=1.0),
            retry=tenacity.retry_if_exception_type(_Transient),
            reraise=True,
            sleep=time.sleep,
        )
        try:
            return retrying(attempt)
        except _Transient as exc:
            raise translate_error(self.host, exc.original, self.settings) from None
        except EntraStandbyError:
            raise
        except Exception as exc:
            raise translate_error(self.host, exc, self.settings) from None

    def _scrub(self, text: str) -> str:
        return _scrub(text, self.settings)

    def _deadline_error(self) -> HostDeadlineError:
        seconds = self._deadline.seconds if self._deadline is not None else self.settings.host_timeout
        return deadline_error(self.host, seconds)


def deadline_error(host: str, seconds: float) -> HostDeadlineError:
    """The one line for a host that used up its total time (connect + requests + probes)."""
    return HostDeadlineError(
        host, f"did not finish within its total deadline of {seconds:g} s (connect, every request and every "
              "probe); the host answers too slowly or keeps the connection trickling",
        fix="check the server's load, the network and any proxy in between; raise connection.host_timeout "
            "if this host is just slow")


# --- the budgeted pipeline (X4) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _BatchOutcome:
    outputs: list[Any]
    had_errors: bool
    complete: bool = True
    overrun: float | None = None  # seconds the running statement waited without output when stopped


class _PypsrpPipeline:
    """The four operations ``drive_pipeline`` needs, on a pypsrp ``PowerShell``."""

    def __init__(self, ps: PowerShell, prepared: PreparedBatch | None = None) -> None:
        self.ps = ps
        self.prepared = prepared

    def begin(self) -> None:
        if self.prepared is not None:
            begin_prepared(self.ps, self.prepared)
        else:
            self.ps.begin_invoke()

    def poll(self) -> None:
        self.ps.poll_invoke()

    @property
    def running(self) -> bool:
        return bool(self.ps.state == PSInvocationState.RUNNING)

    @property
    def outputs(self) -> list[Any]:
        return list(self.ps.output)

    @property
    def had_errors(self) -> bool:
        return bool(self.ps.had_errors)

    def stop(self) -> None:
        # The pipeline is abandoned either way; a failed Signal must not turn one slow probe into a
        # host error (the runspace pool stays usable for the next pipeline).
        with contextlib.suppress(Exception):
            self.ps.stop()


def drive_pipeline(pipeline: Any, budget_s: float,
                   clock: Callable[[], float] = time.monotonic) -> _BatchOutcome:
    """Run ``pipeline`` to its end, unless no new output arrives for ``budget_s``: then stop it.

    Each statement of a probe batch prints exactly one output object, so "no new output" means the
    statement now running has overrun its own budget, whatever the others took.
    """
    pipeline.begin()
    seen, since = 0, clock()
    while pipeline.running:
        pipeline.poll()
        count = len(pipeline.outputs)
        if count != seen:
            seen, since = count, clock()
        elif pipeline.running and clock() - since > budget_s:
            waited = clock() - since
            pipeline.stop()
            return _BatchOutcome(pipeline.outputs[:seen], False, complete=False, overrun=waited)
    return _BatchOutcome(pipeline.outputs, pipeline.had_errors)


# --- Kerberos session options ------------------------------------------------------------------------------


def kerberos_options(s: ConnectionSettings) -> dict[str, Any]:
    """pypsrp's SPN overrides, and the inventory's krb5.conf for MIT Kerberos.

    KRB5_CONFIG is read whenever a Kerberos context starts, so it is set for the process (the inventory
    allows one krb5_config; the directory reads swap theirs in under a lock and put this one back).
    """
    if s.krb5_config:
        os.environ["KRB5_CONFIG"] = s.krb5_config
    options: dict[str, Any] = {}
    if s.spn_host:
        options["negotiate_hostname_override"] = s.spn_host
    if s.spn_service:
        options["negotiate_service"] = s.spn_service
    return options


def kerberos_username(s: ConnectionSettings) -> Any:
    """The user pypsrp hands to pyspnego: the principal, or a keytab credential (pyspnego's own type)."""
    if s.keytab:
        import spnego

        return spnego.KerberosKeytab(keytab=f"FILE:{s.keytab}", principal=s.principal)
    return s.principal


# --- error translation -----------------------------------------------------------------------------------


def _is_transient(exc: BaseException) -> bool:
    """A failure worth one more try on a fresh connection: refused/reset/dropped, or HTTP 503/429.

    Timeouts are not retried: the retry would double the time a stalled host holds the run.
    """
    if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.Timeout):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError):
        return True
    if isinstance(exc, WSManFaultError):
        return False
    return isinstance(exc, WinRMTransportError) and exc.code in (429, 503)


def translate_error(host: str, exc: BaseException, settings: ConnectionSettings | None = None) -> HostError:
    """Map a pypsrp/requests/other exception to one ``HostError`` line (password scrubbed)."""
    port = settings.effective_port if settings else None
    where = f"port {port}" if port else "the WinRM port"
    if isinstance(exc, HostError):
        return exc
    if isinstance(exc, _DeadlineExpired):
        return deadline_error(host, settings.host_timeout if settings else 0)
    if isinstance(exc, requests.exceptions.SSLError):
        return AuthenticationFailedError(
            host, f"TLS certificate not trusted ({_root_cause(exc, settings)})",
            fix="set connection.cert_validation to the PEM CA bundle that issued the WinRM certificate")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        within = f" within {settings.connect_timeout:g} s" if settings else ""
        return UnreachableError(host, f"unreachable: no TCP connection to {where}{within}",
                                fix="check the host name, the firewall and that WinRM listens")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        timeout = settings.read_timeout if settings else "?"
        return UnreachableError(host, f"unreachable: the host stopped answering (stalled, no reply within "
                                      f"{timeout} s)",
                                fix="check the server's load and the WinRM service; raise "
                                    "connection.read_timeout if the network is slow")
    if isinstance(exc, requests.exceptions.ConnectionError):
        cause = _root_cause(exc, settings)
        if "refused" in cause.lower():
            return UnreachableError(host, f"unreachable: connection refused on {where}",
                                    fix="start the WinRM service / open the firewall, or fix connection.port")
        if any(w in cause.lower() for w in ("name or service", "nodename", "getaddrinfo", "resolve")):
            return UnreachableError(host, f"unreachable: host name does not resolve ({cause})",
                                    fix="fix the host name in the inventory or the DNS record")
        if any(w in cause.lower() for w in ("aborted", "reset", "disconnected", "closed")):
            return RemotingError(host, f"connection dropped by the host ({cause})",
                                 fix="check the WinRM service and any proxy or load balancer in between")
        return UnreachableError(host, f"unreachable: {cause}",
                                fix="check the host name, the firewall and that WinRM listens")
    kerberos = _kerberos_error(host, exc, settings)
    if kerberos is not None:
        return kerberos
    if isinstance(exc, AuthenticationError):
        user = settings.username if settings else None
        auth = settings.auth if settings else "?"
        return AuthenticationFailedError(
            host, f"authentication failed for {user or 'the configured user'} ({auth})",
            fix="check the username and the password source; the account needs WinRM access "
                "(Remote Management Users) on the server")
    if isinstance(exc, WSManFaultError):
        reason = _scrub(str(getattr(exc, "reason", None) or exc), settings)
        return RemotingError(host, f"WS-Management fault {getattr(exc, 'code', '?')}: {reason}")
    if isinstance(exc, WinRMTransportError):
        return RemotingError(host, f"WinRM endpoint answered HTTP {exc.code}",
                             fix="check the WinRM listener and its HTTP/HTTPS settings")
    if isinstance(exc, WinRMError):
        return RemotingError(host, f"remoting failed: {_scrub(str(exc), settings)}")
    return RemotingError(host, f"remoting failed: {type(exc).__name__}: {_scrub(str(exc), settings)}")


# MIT Kerberos's messages (krb5 error table, as raised by the krb5 and gssapi packages) -> reason, fix.
_KERBEROS_FAILURES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("preauthentication failed", "password incorrect", "decrypt integrity check failed"),
     "Kerberos pre-authentication failed: the KDC refused the password (or keytab key) of {user}",
     "check connection.username and its password source (or re-export the keytab after a password change)"),
    (("client '", "client not found"),
     "Kerberos: the KDC does not know the user {user}",
     "check connection.username (user@REALM) and connection.realm"),
    (("server not found in kerberos database", "s_principal_unknown"),
     "Kerberos: the KDC does not know the SPN {service}/{spn} (unknown SPN)",
     "set connection.spn_host to the server's name as in its SPN (e.g. aadc01.contoso.com), or register "
     "the SPN (setspn -S HTTP/<name> <account>)"),
    (("clock skew", "skew too great"),
     "Kerberos: the clocks of this host and the KDC or server differ too much (clock skew)",
     "sync this host's time with the domain (5 minutes is AD's default tolerance)"),
    (("cannot contact any kdc", "cannot find kdc", "cannot resolve network address for kdc"),
     "Kerberos: no KDC answered for the realm of {user}",
     "check the realm's kdc entries in connection.krb5_config (or /etc/krb5.conf) and that port 88 is "
     "reachable"),
    (("no kerberos credentials", "can't find client principal", "no credentials cache",
      "credentials cache file", "no credentials were supplied"),
     "Kerberos: no ticket for {user} (the credentials cache has none, and no password or keytab is set)",
     "run kinit for the user (KRB5CCNAME), or set connection.password_env/password_file or "
     "connection.keytab"),
    (("realm not local", "cannot find realm", "configuration file does not specify default realm"),
     "Kerberos: the realm of {user} is not configured",
     "set connection.realm and a krb5_config whose [realms] lists its KDC"),
)


def _kerberos_error(host: str, exc: BaseException, settings: ConnectionSettings | None) -> HostError | None:
    """A Kerberos failure (from pyspnego, gssapi or krb5 anywhere in the chain) as one ``auth`` line."""
    seen: BaseException | None = exc
    texts: list[str] = []
    while seen is not None and len(texts) < 10:
        if isinstance(seen, ImportError) and "gssapi" in str(seen):  # pyspnego's GSSAPIProxy without it
            return AuthenticationFailedError(host, "Kerberos needs the 'kerberos' extra (gssapi)",
                                             fix="pip install 'entra-standby[kerberos]' (builds against "
                                                 "libkrb5-dev), or use auth: negotiate")
        if type(seen).__module__.split(".")[0] in ("krb5", "gssapi", "spnego"):
            texts.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    if not texts:
        return None
    lowered = " ".join(texts).lower()
    s = settings
    user = (s.principal if s else None) or "the ticket cache's principal"
    spn = (s.spn_host if s else None) or host
    service = (s.spn_service if s else None) or "host"  # pypsrp's default (its docstring says WSMAN)
    for needles, reason, fix in _KERBEROS_FAILURES:
        if any(n in lowered for n in needles):
            text = reason.format(user=user, spn=spn, service=service)
            return AuthenticationFailedError(host, text, fix=fix)
    detail = _scrub(" ".join(texts[-1].split()), settings)[:300]
    return AuthenticationFailedError(host, f"Kerberos/Negotiate authentication failed: {detail}",
                                     fix="check connection.username, its password source or keytab, the "
                                         "realm and krb5_config")


def _root_cause(exc: BaseException, settings: ConnectionSettings | None) -> str:
    """The innermost useful message of a requests/urllib3 exception chain, in one line."""
    seen: BaseException | None = exc
    best = str(exc)
    while seen is not None:
        reason = getattr(seen, "reason", None)
        if isinstance(reason, BaseException):
            best = str(reason)
            seen = reason
            continue
        args = getattr(seen, "args", ())
        if args and isinstance(args[0], BaseException):
            best = str(args[0])
            seen = args[0]
            continue
        nxt = seen.__cause__ or seen.__context__
        if nxt is None:
            break
        best = str(nxt)
        seen = nxt
    best = " ".join(best.split())
    for noisy in ("HTTPConnectionPool", "HTTPSConnectionPool"):
        if noisy in best and "Caused by" in best:
            best = best.split("Caused by", 1)[1].strip(" ()")
    return _scrub(best, settings)[:300]


def _scrub(text: str, settings: ConnectionSettings | None) -> str:
    if settings is not None and settings.password is not None:
        secret = settings.password.reveal()
        if secret:
            text = text.replace(secret, "********")
    return text


def _add_script(ps: PowerShell, call: ProbeCall) -> None:
    # A script added without a scope is dot-sourced into the runspace's global scope, so the statements of
    # one batch would share variables and preferences (a probe could read another's leftovers). Each probe
    # gets its own local scope instead, as if it ran alone.
    # A catalogue probe sent alone goes in its wire form, as in the batch (probes/wire.py); actions whole.
    ps.add_script(probe_sent_alone(call.text, call.name), use_local_scope=True)
    if call.parameters:
        ps.add_parameters(dict(call.parameters))


def _first_error(ps: PowerShell) -> str:
    errors = list(getattr(ps.streams, "error", []) or [])
    if not errors:
        return "no error record"
    record = errors[-1]
    message = getattr(record, "message", None) or str(record)
    return " ".join(str(message).split())[:300]


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _close_transport(wsman: WSMan) -> None:
    with contextlib.suppress(Exception):  # closing a requests session only releases sockets
        wsman.transport.close()
