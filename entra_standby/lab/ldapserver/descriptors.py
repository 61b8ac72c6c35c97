"""Security descriptors as a domain controller stores them: self-relative bytes with the inherited ACEs.

The model (``directory_model``) holds the ACEs *set* on each container in .NET's vocabulary; a DC stores,
on every object, those explicit ACEs followed by the copies it inherited from its parent ([MS-DTYP] 2.5.3.4,
as Samba's ``calculate_inherited_from_parent`` implements it): a parent ACE with CONTAINER_INHERIT reaches
the child marked INHERITED_ACE; NO_PROPAGATE_INHERIT stops it after one level; INHERIT_ONLY is cleared on
the copy (it applies there), unless the ACE names an inherited object type other than the child's class,
when the copy stays inherit-only and only passes further down. "This object only" ACEs are not copied.

Layouts: SECURITY_DESCRIPTOR (self-relative) [MS-DTYP] 2.4.6, ACL 2.4.5, ACCESS_ALLOWED(_OBJECT)_ACE and the
Deny twins 2.4.4.2-2.4.4.5, SID 2.4.2.2. ``entra_standby.directory.sd`` (the tool's parser) reads them back.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace

from ...directory.sd import ALL_ZERO, RIGHT_BITS, RawAce
from ...errors import LabError
from ..directory_model import ModelAce

CONTAINER_INHERIT, NO_PROPAGATE, INHERIT_ONLY, INHERITED = 0x02, 0x04, 0x08, 0x10
_OBJECT_INHERIT = 0x01
_ALLOWED, _DENIED, _ALLOWED_OBJECT, _DENIED_OBJECT = 0x00, 0x01, 0x05, 0x06
_OBJECT_TYPE_PRESENT, _INHERITED_OBJECT_TYPE_PRESENT = 0x1, 0x2
_ACL_REVISION, _ACL_REVISION_DS = 2, 4  # DS: the ACL holds object ACEs

# SECURITY_DESCRIPTOR control bits ([MS-DTYP] 2.4.6)
_SE_DACL_PRESENT, _SE_DACL_AUTO_INHERITED, _SE_SELF_RELATIVE = 0x0004, 0x0400, 0x8000

# SD flags control bits ([MS-ADTS] 3.1.1.3.4.1.11): which parts a search returns.
OWNER_SECURITY_INFORMATION, GROUP_SECURITY_INFORMATION = 0x1, 0x2
DACL_SECURITY_INFORMATION, SACL_SECURITY_INFORMATION = 0x4, 0x8

# ActiveDirectorySecurityInheritance -> ACE flags ([MS-DTYP] 2.4.4.1; .NET's mapping, the inverse of sd.py's)
INHERITANCE_FLAGS = {
    "None": 0,
    "All": CONTAINER_INHERIT,
    "Descendents": CONTAINER_INHERIT | INHERIT_ONLY,
    "SelfAndChildren": CONTAINER_INHERIT | NO_PROPAGATE,
    "Children": CONTAINER_INHERIT | NO_PROPAGATE | INHERIT_ONLY,
}
_BITS = {name: bit for bit, name in RIGHT_BITS}


def mask_of(rights: Iterable[str]) -> int:
    mask = 0
    for name in rights:
        if name not in _BITS:
            raise LabError(f"the lab directory cannot store the right {name!r}",
                           fix=f"use ActiveDirectoryRights names: {', '.join(_BITS)}")
        mask |= _BITS[name]
    return mask


def from_model(ace: ModelAce) -> RawAce:
    """The ACE a DC stores for one explicit model ACE."""
    if ace.inheritance not in INHERITANCE_FLAGS:
        raise LabError(f"unknown inheritance {ace.inheritance!r} in the lab directory model",
                       fix=f"use one of {', '.join(INHERITANCE_FLAGS)}")
    return RawAce(ace.trustee_sid, ace.allow, mask_of(ace.rights), INHERITANCE_FLAGS[ace.inheritance],
                  ace.object_type.lower(), ace.inherited_object_type.lower())


def canonical(explicit: Iterable[RawAce]) -> list[RawAce]:
    """Explicit ACEs in the order Windows writes them: denies before allows, otherwise as given."""
    aces = list(explicit)
    return [a for a in aces if not a.allow] + [a for a in aces if a.allow]


def inherit(parent: Sequence[RawAce], child_class: str) -> list[RawAce]:
    """The copies a child of class ``child_class`` (a schemaIDGUID) inherits from its parent's DACL."""
    out: list[RawAce] = []
    for ace in parent:
        if not ace.flags & (CONTAINER_INHERIT | _OBJECT_INHERIT):
            continue  # "this object only"
        flags = (ace.flags | INHERITED) & ~INHERIT_ONLY
        if ace.flags & NO_PROPAGATE:
            flags &= ~(CONTAINER_INHERIT | _OBJECT_INHERIT | NO_PROPAGATE)
        elif not ace.flags & CONTAINER_INHERIT:
            flags |= INHERIT_ONLY  # object-inherit only: not for a container, passes on to leaf objects
        if ace.inherited_object_type not in (ALL_ZERO, child_class.lower()):
            flags |= INHERIT_ONLY  # meant for another class: passes through this object only
        if flags & INHERIT_ONLY and not flags & (CONTAINER_INHERIT | _OBJECT_INHERIT):
            continue  # neither applies here nor goes further
        out.append(replace(ace, flags=flags))
    return out


# --- bytes ----------------------------------------------------------------------------------------------


def sid_bytes(sid: str) -> bytes:
    parts = sid.split("-")
    if len(parts) < 3 or parts[0].upper() != "S":
        raise LabError(f"'{sid}' is not a SID")
    subs = [int(p) for p in parts[3:]]
    return (bytes([int(parts[1]), len(subs)]) + int(parts[2]).to_bytes(6, "big")
            + b"".join(s.to_bytes(4, "little") for s in subs))


def _is_object_ace(ace: RawAce) -> bool:
    return ace.object_type != ALL_ZERO or ace.inherited_object_type != ALL_ZERO


def ace_bytes(ace: RawAce) -> bytes:
    if _is_object_ace(ace):
        present = ((_OBJECT_TYPE_PRESENT if ace.object_type != ALL_ZERO else 0)
                   | (_INHERITED_OBJECT_TYPE_PRESENT if ace.inherited_object_type != ALL_ZERO else 0))
        body = struct.pack("<II", ace.mask, present)
        for guid in (ace.object_type, ace.inherited_object_type):
            if guid != ALL_ZERO:
                body += uuid.UUID(guid).bytes_le
        body += sid_bytes(ace.sid)
        kind = _ALLOWED_OBJECT if ace.allow else _DENIED_OBJECT
    else:
        body = struct.pack("<I", ace.mask) + sid_bytes(ace.sid)
        kind = _ALLOWED if ace.allow else _DENIED
    return struct.pack("<BBH", kind, ace.flags, 4 + len(body)) + body  # SIDs keep it a multiple of 4


def acl_bytes(aces: Sequence[RawAce]) -> bytes:
    body = b"".join(ace_bytes(a) for a in aces)
    revision = _ACL_REVISION_DS if any(_is_object_ace(a) for a in aces) else _ACL_REVISION
    return struct.pack("<BBHHH", revision, 0, 8 + len(body), len(aces), 0) + body


def descriptor_bytes(owner: str | None, group: str | None, dacl: Sequence[RawAce] | None) -> bytes:
    """A self-relative SECURITY_DESCRIPTOR with the parts given (None: left out, offset 0); no SACL."""
    control = _SE_SELF_RELATIVE
    parts: list[bytes] = []
    offsets = [0, 0, 0, 0]  # owner, group, sacl, dacl
    at = 20
    # Windows lays out SACL, DACL, owner, group after the header; parsers follow the offsets.
    for index, data in ((3, acl_bytes(dacl) if dacl is not None else None),
                        (0, sid_bytes(owner) if owner else None), (1, sid_bytes(group) if group else None)):
        if data is None:
            continue
        offsets[index] = at
        parts.append(data)
        at += len(data)
    if dacl is not None:
        control |= _SE_DACL_PRESENT | _SE_DACL_AUTO_INHERITED
    return struct.pack("<BBHIIII", 1, 0, control, *offsets) + b"".join(parts)
