"""The one exception root of entra-standby and its kinds.

Every error a user can meet is an ``EntraStandbyError``; its ``str()`` is one line for a human that names
what failed (file, host, probe, check) and how to fix it. Third-party exceptions (pypsrp, requests, msal)
are translated into these at the boundary where they are raised, never deeper.
"""

from __future__ import annotations

import re

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def is_env_name(name: object) -> bool:
    """True for a name the shell could export (letters, digits, _): only such names are looked up."""
    return isinstance(name, str) and _IDENTIFIER.fullmatch(name) is not None


def env_name_for_message(name: object) -> str | None:
    """``name`` if it looks like an environment variable name (UPPER_CASE), else None.

    Keys such as ``password_env`` hold a variable's *name*; a user who types the password itself there must
    not see it echoed into a CI log by the error that follows, so only conventional names are ever shown.
    """
    return name if isinstance(name, str) and _ENV_NAME.fullmatch(name) else None


def env_problem(name: object) -> str:
    """The message for an unset variable named by a ``*_env`` key (the name only if it looks like one)."""
    shown = env_name_for_message(name)
    if shown is not None:
        return f"environment variable {shown} is not set or empty"
    if is_env_name(name):
        return ("the environment variable named here is not set or empty (its name is not shown: it is not "
                "UPPER_CASE and could be the secret itself)")
    return ("the value is not an environment variable name (names are UPPER_CASE letters, digits and _); "
            "it is not shown here in case it is the secret itself")


class EntraStandbyError(Exception):
    """Root of every error entra-standby raises on purpose."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.reason = message
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.reason} (fix: {self.fix})" if self.fix else self.reason


class FileKeyError(EntraStandbyError):
    """A file the user wrote is wrong at one key: the message starts with the file and the key path."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None,
                 fix: str | None = None) -> None:
        self.path = path
        self.key = key
        where = ": ".join(p for p in (path, key) if p)
        super().__init__(f"{where}: {message}" if where else message, fix=fix)


class InventoryError(FileKeyError):
    """The inventory file is missing, malformed or refers to missing secrets."""


class ScenarioError(FileKeyError):
    """A lab scenario file is malformed (names the file and the key)."""


class HostError(EntraStandbyError):
    """Something went wrong talking to one host."""

    kind = "host"

    def __init__(self, host: str, message: str, *, fix: str | None = None) -> None:
        self.host = host
        super().__init__(f"{host}: {message}", fix=fix)


class UnreachableError(HostError):
    """The host did not answer (refused, DNS, timeout, stalled)."""

    kind = "unreachable"


class HostDeadlineError(UnreachableError):
    """The host did not finish within its total deadline (connect + every request + every probe)."""

    kind = "deadline"


class AuthenticationFailedError(HostError):
    """The host rejected the credentials (or the TLS/channel binding)."""

    kind = "auth"


class RemotingError(HostError):
    """The WinRM/PSRP exchange failed after connecting (fault, dropped connection, failed pipeline)."""

    kind = "remoting"


class ProbeError(HostError):
    """One probe failed on one host, or its output could not be parsed."""

    kind = "probe"

    def __init__(self, host: str, probe: str, message: str, *, field: str | None = None,
                 fix: str | None = None) -> None:
        self.probe = probe
        self.field = field
        where = f"probe {probe}" + (f", field {field}" if field else "")
        super().__init__(host, f"{where}: {message}", fix=fix)


class FactUnavailableError(EntraStandbyError):
    """A check needs a fact that could not be gathered; the check errors (it does not fail)."""

    def __init__(self, target: str, domain: str, cause: str) -> None:
        self.target = target
        self.domain = domain
        self.cause = cause
        super().__init__(f"{target}: fact '{domain}' unavailable: {cause}")


class EvidenceError(EntraStandbyError):
    """Evidence could not be written or a replay directory is unusable."""


class CloudError(EntraStandbyError):
    """The identity platform or Microsoft Graph refused or failed a request."""

    def __init__(self, message: str, *, tenant_id: str | None = None, client_id: str | None = None,
                 code: str | None = None, fix: str | None = None) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.code = code
        parts = [p for p in (f"tenant {tenant_id}" if tenant_id else None,
                             f"client {client_id}" if client_id else None) if p]
        prefix = f"{', '.join(parts)}: " if parts else ""
        super().__init__(f"{prefix}{message}", fix=fix)


class DrillError(EntraStandbyError):
    """A failover drill refused to start, stopped, or needs a human."""


class LabError(EntraStandbyError):
    """The simulated lab could not start or was misused."""
