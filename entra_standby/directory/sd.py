"""Parse a binary security descriptor (nTSecurityDescriptor) into the ACEs of its DACL.

Self-relative SECURITY_DESCRIPTOR, ACL and ACE layouts: [MS-DTYP] 2.4.6, 2.4.5, 2.4.4 (ACCESS_ALLOWED_ACE,
ACCESS_ALLOWED_OBJECT_ACE and their Deny twins). Rights and inheritance are named as .NET's
ActiveDirectoryAccessRule names them (what the PowerShell probe emits), so one rights evaluation
(rules/accounts.py) serves both sources.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from .errors import DirectoryError

ALL_ZERO = "00000000-0000-0000-0000-000000000000"

_ALLOWED, _DENIED, _ALLOWED_OBJECT, _DENIED_OBJECT = 0x00, 0x01, 0x05, 0x06
_OBJECT_TYPE_PRESENT, _INHERITED_OBJECT_TYPE_PRESENT = 0x1, 0x2
_CONTAINER_INHERIT, _NO_PROPAGATE, _INHERIT_ONLY, _INHERITED = 0x02, 0x04, 0x08, 0x10
_SE_DACL_PRESENT = 0x0004

# ADS_RIGHTS_ENUM bits ([MS-ADTS] 5.1.3.2) by ActiveDirectoryRights name; generic bits as AD stores them
# are mapped by the DC at write time, but a DACL may still carry them ([MS-DTYP] 2.4.3).
RIGHT_BITS: tuple[tuple[int, str], ...] = (
    (0x00000001, "CreateChild"), (0x00000002, "DeleteChild"), (0x00000004, "ListChildren"),
    (0x00000008, "Self"), (0x00000010, "ReadProperty"), (0x00000020, "WriteProperty"),
    (0x00000040, "DeleteTree"), (0x00000080, "ListObject"), (0x00000100, "ExtendedRight"),
    (0x00010000, "Delete"), (0x00020000, "ReadControl"), (0x00040000, "WriteDacl"),
    (0x00080000, "WriteOwner"), (0x00100000, "Synchronize"), (0x01000000, "AccessSystemSecurity"),
    (0x10000000, "GenericAll"), (0x20000000, "GenericExecute"), (0x40000000, "GenericWrite"),
    (0x80000000, "GenericRead"),
)


@dataclass(frozen=True)
class RawAce:
    sid: str
    allow: bool
    mask: int
    flags: int
    object_type: str = ALL_ZERO
    inherited_object_type: str = ALL_ZERO

    @property
    def rights(self) -> tuple[str, ...]:
        return tuple(name for bit, name in RIGHT_BITS if self.mask & bit)

    @property
    def inheritance(self) -> str:
        """ActiveDirectorySecurityInheritance: which objects the ACE reaches, from CI / IO / NP."""
        if not self.flags & _CONTAINER_INHERIT:
            return "None"
        inherit_only = bool(self.flags & _INHERIT_ONLY)
        if self.flags & _NO_PROPAGATE:
            return "Children" if inherit_only else "SelfAndChildren"
        return "Descendents" if inherit_only else "All"

    @property
    def inherited(self) -> bool:
        return bool(self.flags & _INHERITED)


def sid_text(data: bytes, offset: int = 0) -> tuple[str, int]:
    """``S-1-5-21-…`` of the SID at ``offset`` ([MS-DTYP] 2.4.2.2) and its size in bytes."""
    if offset + 8 > len(data):
        raise DirectoryError("truncated SID")
    revision, count = data[offset], data[offset + 1]
    authority = int.from_bytes(data[offset + 2:offset + 8], "big")
    end = offset + 8 + 4 * count
    if end > len(data):
        raise DirectoryError("truncated SID")
    subs = struct.unpack_from(f"<{count}I", data, offset + 8)
    return "-".join(["S", str(revision), str(authority), *map(str, subs)]), end - offset


def _guid(data: bytes, offset: int) -> str:
    return str(uuid.UUID(bytes_le=bytes(data[offset:offset + 16])))


def dacl(descriptor: bytes) -> tuple[RawAce, ...]:
    """The DACL's ACEs in order; ACE types other than (object) allow/deny are skipped (audit, callback)."""
    if len(descriptor) < 20:
        raise DirectoryError("security descriptor too short")
    control = struct.unpack_from("<H", descriptor, 2)[0]
    dacl_offset = struct.unpack_from("<I", descriptor, 16)[0]
    if not control & _SE_DACL_PRESENT or dacl_offset == 0:
        return ()
    if dacl_offset + 8 > len(descriptor):
        raise DirectoryError("security descriptor: DACL offset out of range")
    count = struct.unpack_from("<H", descriptor, dacl_offset + 4)[0]
    pos = dacl_offset + 8
    aces: list[RawAce] = []
    for _ in range(count):
        if pos + 8 > len(descriptor):
            raise DirectoryError("security descriptor: truncated ACE")
        ace_type, flags = descriptor[pos], descriptor[pos + 1]
        size = struct.unpack_from("<H", descriptor, pos + 2)[0]
        if size < 8 or pos + size > len(descriptor):
            raise DirectoryError("security descriptor: bad ACE size")
        body = descriptor[pos:pos + size]
        mask = struct.unpack_from("<I", body, 4)[0]
        if ace_type in (_ALLOWED, _DENIED):
            sid, _ = sid_text(body, 8)
            aces.append(RawAce(sid, ace_type == _ALLOWED, mask, flags))
        elif ace_type in (_ALLOWED_OBJECT, _DENIED_OBJECT):
            present = struct.unpack_from("<I", body, 8)[0]
            at = 12
            object_type = inherited_type = ALL_ZERO
            if present & _OBJECT_TYPE_PRESENT:
                object_type, at = _guid(body, at), at + 16
            if present & _INHERITED_OBJECT_TYPE_PRESENT:
                inherited_type, at = _guid(body, at), at + 16
            sid, _ = sid_text(body, at)
            aces.append(RawAce(sid, ace_type == _ALLOWED_OBJECT, mask, flags, object_type, inherited_type))
        pos += size
    return tuple(aces)
