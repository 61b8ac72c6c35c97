"""Facts of one host and of one pair, with the errors that stand where a fact could not be had."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import FactUnavailableError
from .model import (
    AccessFacts,
    CloudFacts,
    ConfigFacts,
    ConnectorsFacts,
    MachineFacts,
    OsFacts,
    PendingExportsFacts,
    RunHistoryFacts,
    SchedulerFacts,
    ServiceFacts,
    TlsFacts,
    VersionFacts,
)
from .password_sync import PasswordSyncFacts

if TYPE_CHECKING:  # directory.facts builds on facts.model: a run-time import here would be circular
    from ..directory.facts import DirectoryFacts

T = TypeVar("T")


@dataclass(frozen=True)
class FactError:
    """Why a fact domain is missing for a host: unreachable, auth, remoting, probe, malformed."""

    domain: str
    kind: str
    message: str


@dataclass(frozen=True)
class HostFacts:
    """Everything gathered from one server in one run. ``values`` and ``errors`` never share a key."""

    host: str
    role: str  # active | standby (from the inventory)
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, FactError] = field(default_factory=dict)
    collected_utc: datetime | None = None

    def get(self, domain: str, kind: type[T]) -> T:
        if domain in self.values:
            value = self.values[domain]
            if not isinstance(value, kind):
                raise FactUnavailableError(self.host, domain, f"expected {kind.__name__}")
            return value
        error = self.errors.get(domain)
        raise FactUnavailableError(self.host, domain, error.message if error else "not gathered")

    def has(self, domain: str) -> bool:
        return domain in self.values

    @property
    def access(self) -> AccessFacts:
        return self.get("access", AccessFacts)

    @property
    def scheduler(self) -> SchedulerFacts:
        return self.get("scheduler", SchedulerFacts)

    @property
    def service(self) -> ServiceFacts:
        return self.get("service", ServiceFacts)

    @property
    def version(self) -> VersionFacts:
        return self.get("version", VersionFacts)

    @property
    def tls(self) -> TlsFacts:
        return self.get("tls", TlsFacts)

    @property
    def os(self) -> OsFacts:
        return self.get("os", OsFacts)

    @property
    def run_history(self) -> RunHistoryFacts:
        return self.get("run-history", RunHistoryFacts)

    @property
    def connectors(self) -> ConnectorsFacts:
        return self.get("connectors", ConnectorsFacts)

    @property
    def config(self) -> ConfigFacts:
        return self.get("config", ConfigFacts)

    @property
    def pending_exports(self) -> PendingExportsFacts:
        return self.get("pending-exports", PendingExportsFacts)

    @property
    def machine(self) -> MachineFacts:
        return self.get("machine", MachineFacts)

    @property
    def password_sync(self) -> PasswordSyncFacts:
        return self.get("password-sync", PasswordSyncFacts)


@dataclass(frozen=True)
class PairFacts:
    """One HA pair: its servers' facts (inventory order), thresholds and, if configured, the cloud's view."""

    name: str
    servers: tuple[HostFacts, ...]
    thresholds: dict[str, Any] = field(default_factory=dict)
    cloud: CloudFacts | None = None
    cloud_error: FactError | None = None
    cloud_configured: bool = False
    now_utc: datetime | None = None  # evaluation time; replay uses the evidence's collection time
    # The pair's ``directory:`` block read over LDAP (connector accounts' state and rights), or why not.
    directory: DirectoryFacts | None = None
    directory_error: FactError | None = None
    directory_configured: bool = False

    @property
    def active(self) -> HostFacts | None:
        return next((s for s in self.servers if s.role == "active"), None)

    @property
    def standbys(self) -> tuple[HostFacts, ...]:
        return tuple(s for s in self.servers if s.role == "standby")

    def server(self, host: str) -> HostFacts:
        for s in self.servers:
            if s.host == host:
                return s
        raise KeyError(host)

    def require_cloud(self) -> CloudFacts:
        if self.cloud is not None:
            return self.cloud
        raise FactUnavailableError(self.name, "cloud",
                                   self.cloud_error.message if self.cloud_error else "not configured")
