"""The directory's error: one line naming the DC, what failed and the fix."""

from __future__ import annotations

from ..errors import EntraStandbyError


class DirectoryError(EntraStandbyError):
    """An LDAP read from a domain controller failed. ``kind``: unreachable | auth | ldap."""

    def __init__(self, message: str, *, fix: str | None = None, kind: str = "ldap",
                 code: int | None = None) -> None:
        self.kind = kind
        self.code = code
        super().__init__(message, fix=fix)
