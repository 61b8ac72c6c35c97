"""One PSRP session per host: open a runspace pool once, run probes in one pipeline, translate errors.

This is the only module that talks to pypsrp and requests. Everything they raise is translated here, once,
into ``entra_standby.errors`` (``UnreachableError``, ``AuthenticationFailedError``, ``RemotingError``,
``ProbeError``), with the password scrubbed from every message.

Round trips: all probes go as statements of ONE pipeline (``add_script`` + ``add_parameters`` +
``add_statement``), so a full audit costs Create + open Receive + Command + Receive(s) + Delete plus the
authentication handshake. If that pipeline fails, each probe is re-run on its own so only the failing
fact errors.

Time bounds: pypsrp's defaults (30 s reads, five silent Receive retries) hold a stalled host for about five
minutes. Here every HTTP request has an explicit connect and read timeout, ``operation_timeout`` stays
below ``read_timeout`` so a healthy long-poll always answers in time, and pypsrp's Receive retries are
capped (``_BoundedWSMan``): a read timeout means the host stalled. Transient connection errors (refused,
reset, dropped, HTTP 503/429) are retried a few times with tenacity, each time on a *new* ``WSMan``:
pypsrp cannot reuse an NTLM-encrypted transport after its connection dropped.

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
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
import tenacity
from pypsrp.exceptions import (
    AuthenticationError,
    WinRMError,
    WinRMTransportError,
    WSManFaultError,
)
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from .errors import (
    AuthenticationFailedError,
    EntraStandbyError,
    HostError,
    ProbeError,
    RemotingError,
    UnreachableError,
)
from .inventory import ConnectionSettings, ServerEntry, is_loopback

__all__ = ["HostSession", "ProbeCall", "probe_calls", "translate_error"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# pypsrp logs request bodies at DEBUG (encrypted or not, they may carry data we do not want in logs).
for _noisy in ("pypsrp", "requests_credssp", "spnego", "urllib3"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

_RETRY_WAIT_S = 0.25  # first wait between attempts on a transient error; doubles, capped at 1 s


@dataclass(frozen=True)
class ProbeCall:
    """One script to run: its name (the fact domain), its text (sent unchanged) and named parameters."""

    name: str
    text: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


def probe_calls(names: Sequence[str] | None = None,
                parameters: Mapping[str, Mapping[str, Any]] | None = None) -> list[ProbeCall]:
    """The catalogue's probes (all of ``PROBE_NAMES`` by default) as calls, with optional parameters."""
    from .probes import PROBE_NAMES, load_probe

    chosen = list(names) if names is not None else list(PROBE_NAMES)
    params = parameters or {}
    return [ProbeCall(name, load_probe(name).text, dict(params.get(name, {}))) for name in chosen]


class _BoundedWSMan(WSMan):
    """pypsrp's WSMan with its built-in Receive retries capped (they multiply a stalled host's wait)."""

    def __init__(self, *args: Any, receive_retries: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._receive_retries = receive_retries

    def invoke(self, *args: Any, retries_on_read_timeout: int = 0, **kwargs: Any) -> Any:
        retries = min(retries_on_read_timeout, self._receive_retries)
        return super().invoke(*args, retries_on_read_timeout=retries, **kwargs)


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

    def __init__(self, server: ServerEntry, *, receive_retries: int = 0) -> None:
        self.server = server
        self.host = server.host
        self.settings: ConnectionSettings = server.connection
        self._receive_retries = receive_retries
        self._wsman: WSMan | None = None
        self._pool: RunspacePool | None = None
        self._lock = threading.Lock()
        self.reconnects = 0  # how many times the transport was rebuilt after a transient error

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

        Raises a ``HostError`` (unreachable, auth, remoting) when the host itself cannot be used.
        """
        if not calls:
            return {}
        with self._lock:
            outputs = self._with_retries(lambda: self._run_batch(calls))
            results: dict[str, str | ProbeError] = {}
            if outputs is not None:
                for call, out in zip(calls, outputs, strict=True):
                    results[call.name] = _as_text(out)
                return results
            log.info("%s: the batched probe pipeline failed; running each probe on its own", self.host)
            for call in calls:
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
        if s.auth in ("negotiate", "ntlm", "kerberos"):
            kwargs["negotiate_send_cbt"] = s.negotiate_send_cbt
        return _BoundedWSMan(
            self.host,
            port=s.effective_port,
            username=s.username,
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
            **kwargs,
        )

    def _ensure_pool(self) -> RunspacePool:
        if self._pool is None:
            self._wsman = self._build_wsman()
            pool = RunspacePool(self._wsman)
            pool.open()
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

    def _run_batch(self, calls: Sequence[ProbeCall]) -> list[Any] | None:
        ps = PowerShell(self._ensure_pool())
        for call in calls:
            _add_script(ps, call)
            ps.add_statement()
        output = list(ps.invoke())
        if ps.had_errors or len(output) != len(calls):
            log.info("%s: batched pipeline gave %d outputs for %d probes (failed: %s)", self.host,
                     len(output), len(calls), ps.had_errors)
            return None
        return output

    def _run_single(self, call: ProbeCall) -> str | ProbeError:
        output, error = self._invoke(call)
        if error is not None:
            return ProbeError(self.host, call.name, f"pipeline failed: {error}",
                              fix="run the probe by hand on the server to see the full error")
        if len(output) != 1:
            return ProbeError(self.host, call.name, f"expected one JSON document, got {len(output)} outputs",
                              fix="check the probe script on this server's PowerShell version")
        return _as_text(output[0])

    def _with_retries(self, fn: Callable[[], T], *, retry: bool = True) -> T:
        attempts = self.settings.retries + 1 if retry else 1

        def attempt() -> T:
            try:
                return fn()
            except EntraStandbyError:
                raise
            except Exception as exc:
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
    ps.add_script(call.text, use_local_scope=True)
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
