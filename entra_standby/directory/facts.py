"""Typed facts read over LDAP: each AD connector account's state and its ACEs on the synced objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..facts.model import AccountState, ObjectPermissions


@dataclass(frozen=True)
class DirectoryAccount:
    """One connector account as the DC sees it. ``error`` set: the read failed (nothing else is known)."""

    user: str
    domain: str | None
    account: AccountState | None = None
    permissions: tuple[ObjectPermissions, ...] = ()
    account_expires_utc: datetime | None = None  # None: never
    password_expires_utc: datetime | None = None  # msDS-UserPasswordExpiryTimeComputed; None: never/unknown
    groups: tuple[str, ...] = ()  # tokenGroups SIDs (transitive memberships)
    error: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return account_key(self.user, self.domain)


def account_key(user: str | None, domain: str | None) -> tuple[str, str]:
    return ((domain or "").lower(), (user or "").lower())


@dataclass(frozen=True)
class DirectoryFacts:
    """What one run read from the pair's ``directory:`` block: which DC answered, and each account."""

    server: str
    accounts: tuple[DirectoryAccount, ...]

    def account(self, user: str | None, domain: str | None) -> DirectoryAccount | None:
        wanted = account_key(user, domain)
        return next((a for a in self.accounts if a.key == wanted), None)
