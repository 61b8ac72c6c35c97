"""The lab pair's Active Directory as a domain controller would hold it: one truth for both lab directories.

The sync servers' state (``ServerState.connectors``) says which MSOL_ account each AD connector uses, that
account's state and the rights ADSyncConfig granted it (``state.ALL_RIGHTS``). This module turns that into
what a DC stores: the domain root and each synced OU with the ACEs *set on them* (explicit only; a DC
materialises the inherited copies itself, and so must the embedded stand-in), and the accounts with their
SIDs and state. The embedded LDAP stand-in serves it; ``--directory samba`` seeds a real Samba AD DC from it
(``to_json`` is that seed's input), and the conformance test requires both to give the same verdicts.

ACE fields use .NET's names (ActiveDirectoryRights, ActiveDirectorySecurityInheritance), as the probe and
``entra_standby.directory.sd`` do, so one vocabulary runs from the scenario to the verdict.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ..errors import LabError
from .state import ALL_RIGHTS, ServerState


@dataclass(frozen=True)
class ModelAce:
    """One explicit ACE as set on a container (never an inherited copy)."""

    allow: bool
    trustee_sid: str
    rights: tuple[str, ...]  # ActiveDirectoryRights names, e.g. ("ExtendedRight",)
    object_type: str  # a GUID; all zeros for "any"
    inherited_object_type: str  # the class the ACE inherits to; all zeros for every class
    inheritance: str  # ActiveDirectorySecurityInheritance: None, All, Descendents, SelfAndChildren, Children


@dataclass(frozen=True)
class ModelContainer:
    dn: str
    kind: str  # "domain" (the NC root) or "ou"
    aces: tuple[ModelAce, ...]


@dataclass(frozen=True)
class ModelAccount:
    """A connector account (user object) and the state its attributes must produce."""

    sam_account_name: str
    dn: str
    sid: str
    enabled: bool
    locked_out: bool
    password_expired: bool  # must change at next logon / expired
    password_never_expires: bool
    password_last_set: datetime | None


@dataclass(frozen=True)
class DirectoryModel:
    domain: str  # DNS name, e.g. contoso.com
    netbios: str
    base_dn: str
    domain_sid: str
    containers: tuple[ModelContainer, ...]
    accounts: tuple[ModelAccount, ...]

    def container(self, dn: str) -> ModelContainer | None:
        return next((c for c in self.containers if c.dn.lower() == dn.lower()), None)

    def to_json(self) -> str:
        """The seed for a real DC (``--directory samba``): plain JSON, times as ISO 8601 UTC."""

        def plain(value: Any) -> Any:
            return value.isoformat() if isinstance(value, datetime) else value

        raw = asdict(self)
        for account in raw["accounts"]:
            account["password_last_set"] = plain(account["password_last_set"])
        return json.dumps(raw, indent=1, sort_keys=True)


def _domain_of(dn: str) -> str:
    return ".".join(part.split("=", 1)[1] for part in dn.split(",") if part.strip().upper().startswith("DC="))


def _domain_sid(user_sid: str) -> str:
    return user_sid.rsplit("-", 1)[0]


def directory_model(servers: Iterable[ServerState]) -> DirectoryModel:
    """The one domain the pair's AD connectors read. A pair whose connectors name more than one domain, or
    accounts the lab cannot place (not found, no SID), is refused: the lab serves only what it can serve
    faithfully."""
    roots: dict[str, str] = {}
    names: dict[str, str] = {}  # lower-case DN -> the DN as the connector spells it
    accounts: dict[str, ModelAccount] = {}
    explicit: dict[str, dict[ModelAce, None]] = {}
    kinds: dict[str, str] = {}
    for state in servers:
        for connector in state.connectors:
            if connector.is_entra or connector.domain_root is None:
                continue
            root = connector.domain_root
            roots.setdefault(root.lower(), root)
            kinds.setdefault(root.lower(), "domain")
            explicit.setdefault(root.lower(), {})
            names.setdefault(root.lower(), root)
            for partition in connector.partitions:
                for ou in partition.inclusions:
                    if ou.lower() != root.lower():
                        kinds.setdefault(ou.lower(), "ou")
                        explicit.setdefault(ou.lower(), {})
                        names.setdefault(ou.lower(), ou)
            account = connector.account
            if account is None or not account.found:
                continue
            if account.sid is None or account.distinguished_name is None or connector.account_user is None:
                raise LabError(f"{state.name}: connector {connector.name}: the account has no SID or DN; "
                               "the lab directory cannot serve it")
            accounts.setdefault(account.sid, ModelAccount(
                sam_account_name=connector.account_user, dn=account.distinguished_name, sid=account.sid,
                enabled=bool(account.enabled), locked_out=bool(account.locked_out),
                password_expired=bool(account.password_expired),
                password_never_expires=bool(account.password_never_expires),
                password_last_set=account.password_last_set))
            for key in connector.rights:
                spec = ALL_RIGHTS[key]
                ace = ModelAce(True, account.sid, spec.rights, spec.object_type, spec.inherited_object_type,
                               spec.inheritance)
                targets = [root] if spec.on == "root" else [
                    ou for p in connector.partitions for ou in p.inclusions if ou.lower() != root.lower()]
                for dn in targets:
                    explicit.setdefault(dn.lower(), {})[ace] = None
    if len(roots) != 1:
        named = ", ".join(sorted(roots.values())) or "none"
        raise LabError(f"the lab directory serves one domain per pair; the AD connectors name: {named}")
    (root,) = roots.values()
    domain = _domain_of(root)
    sids = {_domain_sid(a.sid) for a in accounts.values()}
    if len(sids) > 1:
        raise LabError(f"the connector accounts' SIDs name more than one domain: {', '.join(sorted(sids))}")
    domain_sid = sids.pop() if sids else "S-1-5-21-1004336348-1177238915-682003330"
    containers = tuple(ModelContainer(dn=names[dn], kind=kinds[dn], aces=tuple(explicit[dn]))
                       for dn in sorted(explicit, key=lambda d: (kinds[d] != "domain", d)))
    return DirectoryModel(domain=domain, netbios=domain.split(".")[0].upper(), base_dn=root,
                          domain_sid=domain_sid, containers=containers,
                          accounts=tuple(sorted(accounts.values(), key=lambda a: a.sam_account_name)))
