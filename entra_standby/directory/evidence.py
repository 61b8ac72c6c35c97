"""Directory facts as plain JSON data for ``--evidence``, and back for ``--replay``.

Written with the facts' own field names (``fact_to_data``), read back strictly: a field of the wrong type
is an ``EvidenceError`` naming the file and the field, never a silently different verdict. Unknown fields
are ignored, so evidence written by a newer version with more fields still replays.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import EvidenceError
from ..facts.model import AccountState, Ace, ObjectPermissions
from ..facts.parse import fact_to_data, parse_datetime
from .facts import DirectoryAccount, DirectoryFacts

__all__ = ["directory_from_data", "directory_to_data"]


def directory_to_data(facts: DirectoryFacts) -> dict[str, Any]:
    return fact_to_data(facts)


def directory_from_data(data: Any, where: Path) -> DirectoryFacts:
    reader = _Reader(where)
    doc = reader.mapping(data, "directory")
    accounts = tuple(reader.account(a, f"directory.accounts[{i}]")
                     for i, a in enumerate(reader.sequence(doc.get("accounts"), "directory.accounts")))
    return DirectoryFacts(server=reader.text(doc.get("server"), "directory.server"), accounts=accounts)


class _Reader:
    def __init__(self, where: Path) -> None:
        self.where = where

    def fail(self, field: str, expected: str, value: Any) -> EvidenceError:
        shown = "null" if value is None else type(value).__name__
        return EvidenceError(f"{self.where}: {field}: expected {expected}, got {shown}",
                             fix="write the evidence again with --evidence")

    def mapping(self, value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field, "an object", value)
        return value

    def sequence(self, value: Any, field: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(field, "a list", value)
        return value

    def text(self, value: Any, field: str) -> str:
        if not isinstance(value, str):
            raise self.fail(field, "a string", value)
        return value

    def maybe_text(self, value: Any, field: str) -> str | None:
        return None if value is None else self.text(value, field)

    def maybe_bool(self, value: Any, field: str) -> bool | None:
        if value is not None and not isinstance(value, bool):
            raise self.fail(field, "true, false or null", value)
        return value

    def maybe_time(self, value: Any, field: str) -> datetime | None:
        if value is None:
            return None
        try:
            parsed = parse_datetime(self.text(value, field))
        except ValueError:
            raise self.fail(field, "an ISO 8601 time", value) from None
        return parsed.astimezone(UTC)

    def account(self, value: Any, field: str) -> DirectoryAccount:
        doc = self.mapping(value, field)
        state = doc.get("account")
        return DirectoryAccount(
            user=self.text(doc.get("user"), f"{field}.user"),
            domain=self.maybe_text(doc.get("domain"), f"{field}.domain"),
            account=None if state is None else self.state(state, f"{field}.account"),
            permissions=tuple(self.permissions(p, f"{field}.permissions[{i}]") for i, p in
                              enumerate(self.sequence(doc.get("permissions", []), f"{field}.permissions"))),
            account_expires_utc=self.maybe_time(doc.get("account_expires_utc"),
                                                f"{field}.account_expires_utc"),
            password_expires_utc=self.maybe_time(doc.get("password_expires_utc"),
                                                 f"{field}.password_expires_utc"),
            groups=tuple(self.text(g, f"{field}.groups[{i}]")
                         for i, g in enumerate(self.sequence(doc.get("groups", []), f"{field}.groups"))),
            error=self.maybe_text(doc.get("error"), f"{field}.error"),
        )

    def state(self, value: Any, field: str) -> AccountState:
        doc = self.mapping(value, field)
        found = doc.get("found")
        if not isinstance(found, bool):
            raise self.fail(f"{field}.found", "true or false", found)
        flags = {name: self.maybe_bool(doc.get(name), f"{field}.{name}")
                 for name in ("enabled", "locked_out", "password_expired", "password_never_expires")}
        return AccountState(found=found,
                            distinguished_name=self.maybe_text(doc.get("distinguished_name"),
                                                               f"{field}.distinguished_name"),
                            sid=self.maybe_text(doc.get("sid"), f"{field}.sid"),
                            password_last_set=self.maybe_time(doc.get("password_last_set"),
                                                              f"{field}.password_last_set"),
                            **flags)

    def permissions(self, value: Any, field: str) -> ObjectPermissions:
        doc = self.mapping(value, field)
        aces = self.sequence(doc.get("aces"), f"{field}.aces")
        return ObjectPermissions(object_dn=self.text(doc.get("object_dn"), f"{field}.object_dn"),
                                 scope=self.text(doc.get("scope"), f"{field}.scope"),
                                 aces=tuple(self.ace(a, f"{field}.aces[{i}]") for i, a in enumerate(aces)))

    def ace(self, value: Any, field: str) -> Ace:
        doc = self.mapping(value, field)
        inherited = doc.get("inherited", False)
        if not isinstance(inherited, bool):
            raise self.fail(f"{field}.inherited", "true or false", inherited)
        return Ace(identity=self.text(doc.get("identity"), f"{field}.identity"),
                   rights=tuple(self.text(r, f"{field}.rights")
                                for r in self.sequence(doc.get("rights"), f"{field}.rights")),
                   access=self.text(doc.get("access"), f"{field}.access"),
                   object_type=self.text(doc.get("object_type"), f"{field}.object_type"),
                   inherited_object_type=self.text(doc.get("inherited_object_type"),
                                                   f"{field}.inherited_object_type"),
                   inheritance=self.text(doc.get("inheritance"), f"{field}.inheritance"),
                   inherited=inherited)
