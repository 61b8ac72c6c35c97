"""AD rights GUIDs and the delegations each Entra Connect feature needs (reference entra-connect.md §6.2).

An ACE names a right by ``ActiveDirectoryRights`` flag (``ExtendedRight``, ``WriteProperty``, ...) and an
``ObjectType`` GUID: the extended right's ``rightsGuid`` or the attribute's ``schemaIDGUID``; all-zero
means "every right/attribute". GUIDs are lower case, as the probes emit them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ALL_OBJECTS: Final = "00000000-0000-0000-0000-000000000000"

# Extended rights (rightsGuid), from the AD schema pages cited in reference §6.2 / §14.
DS_REPLICATION_GET_CHANGES: Final = "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2"
DS_REPLICATION_GET_CHANGES_ALL: Final = "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2"
DS_REPLICATION_GET_CHANGES_IN_FILTERED_SET: Final = "89e95b76-444d-4c62-991a-0facbeda640c"
USER_FORCE_CHANGE_PASSWORD: Final = "00299570-246d-11d0-a768-00aa006e0529"
UNEXPIRE_PASSWORD: Final = "ccc2dc7d-a6ad-4a7a-8846-c04e3cc53501"
# Attributes (schemaIDGUID).
LOCKOUT_TIME: Final = "28630ebf-41d5-11d1-a9c1-0000f80367c1"
PWD_LAST_SET: Final = "bf967a0a-0de6-11d0-a285-00aa003049e2"
MS_DS_CONSISTENCY_GUID: Final = "23773dc2-b63a-11d2-90e1-00c04fd91ab1"
# Object class (schemaIDGUID of class user), seen as InheritedObjectType on writeback grants.
USER_CLASS: Final = "bf967aba-0de6-11d0-a285-00aa003049e2"
# Property sets (rightsGuid): a WriteProperty ACE on a set grants every member attribute.
# User-Account-Restrictions: Rights-GUID 4c164200-…, members Account-Expires, Pwd-Last-Set,
# User-Account-Control, … in every implementation since Windows 2000 Server
# (https://learn.microsoft.com/windows/win32/adschema/r-user-account-restrictions).
USER_ACCOUNT_RESTRICTIONS: Final = "4c164200-20c0-11d0-a768-00aa006e0529"

GUID_NAMES: Final[dict[str, str]] = {
    ALL_OBJECTS: "(all)",
    DS_REPLICATION_GET_CHANGES: "Replicating Directory Changes",
    DS_REPLICATION_GET_CHANGES_ALL: "Replicating Directory Changes All",
    DS_REPLICATION_GET_CHANGES_IN_FILTERED_SET: "Replicating Directory Changes In Filtered Set",
    USER_FORCE_CHANGE_PASSWORD: "Reset Password",
    UNEXPIRE_PASSWORD: "Unexpire Password",
    LOCKOUT_TIME: "lockoutTime",
    PWD_LAST_SET: "pwdLastSet",
    MS_DS_CONSISTENCY_GUID: "mS-DS-ConsistencyGuid",
    USER_CLASS: "user",
    USER_ACCOUNT_RESTRICTIONS: "User-Account-Restrictions",
}

PROPERTY_SET_MEMBERS: Final[dict[str, frozenset[str]]] = {
    USER_ACCOUNT_RESTRICTIONS: frozenset({PWD_LAST_SET}),
}
"""Property set rightsGuid -> the member attributes the feature grants need (only those with a cited source).
lockoutTime has no attributeSecurityGuid in [MS-ADA1] 2.373 (in no property set); whether a property set holds
mS-DS-ConsistencyGuid is not established here, so none is listed for it."""


def guid_name(guid: str) -> str:
    """``'Reset Password (00299570-…)'`` for a known GUID, the GUID itself otherwise."""
    guid = guid.lower()
    name = GUID_NAMES.get(guid)
    return f"{name} ({guid})" if name and guid != ALL_OBJECTS else (name or guid)


# ActiveDirectoryRights composite flags and the simple rights they include (System.DirectoryServices docs).
IMPLIED_RIGHTS: Final[dict[str, frozenset[str]]] = {
    "GenericRead": frozenset({"ReadProperty", "ListChildren", "ListObject", "ReadControl"}),
    "GenericWrite": frozenset({"WriteProperty", "Self", "ReadControl"}),
    "GenericExecute": frozenset({"ListChildren", "ReadControl"}),
    "GenericAll": frozenset(
        {
            "CreateChild",
            "DeleteChild",
            "ListChildren",
            "Self",
            "ReadProperty",
            "WriteProperty",
            "DeleteTree",
            "ListObject",
            "ExtendedRight",
            "Delete",
            "ReadControl",
            "WriteDacl",
            "WriteOwner",
        }
    ),
}


@dataclass(frozen=True)
class RequiredGrant:
    """One delegation a feature needs: ``right`` on ``object_type`` at every object of ``scope``."""

    feature: str
    right: str  # ActiveDirectoryRights flag
    object_type: str  # rightsGuid / schemaIDGUID
    scope: str  # domain-root | ou (ou: every synced OU; the domain roots when none is listed)
    cmdlet: str  # the ADSyncConfig cmdlet that grants it

    def describe(self) -> str:
        return f"{self.right} {guid_name(self.object_type)}"


_PHS = "Set-ADSyncPasswordHashSyncPermissions"
_PWWB = "Set-ADSyncPasswordWritebackPermissions"
_GUID = "Set-ADSyncMsDsConsistencyGuidPermissions"

FEATURE_GRANTS: Final[dict[str, tuple[RequiredGrant, ...]]] = {
    # PHS: both replication rights on every domain root (this object only).
    "password_hash_sync": (
        RequiredGrant("password_hash_sync", "ExtendedRight", DS_REPLICATION_GET_CHANGES, "domain-root", _PHS),
        RequiredGrant(
            "password_hash_sync", "ExtendedRight", DS_REPLICATION_GET_CHANGES_ALL, "domain-root", _PHS
        ),
    ),
    # Password writeback: Reset Password + write lockoutTime and pwdLastSet on the users of every synced OU.
    # (Unexpire Password, granted by newer ADSyncConfig builds only, is not required: UNCONFIRMED since when.)
    "password_writeback": (
        RequiredGrant("password_writeback", "ExtendedRight", USER_FORCE_CHANGE_PASSWORD, "ou", _PWWB),
        RequiredGrant("password_writeback", "WriteProperty", LOCKOUT_TIME, "ou", _PWWB),
        RequiredGrant("password_writeback", "WriteProperty", PWD_LAST_SET, "ou", _PWWB),
    ),
    # mS-DS-ConsistencyGuid as source anchor: the connector writes it back on the users of every synced OU.
    "consistency_guid": (
        RequiredGrant("consistency_guid", "WriteProperty", MS_DS_CONSISTENCY_GUID, "ou", _GUID),
    ),
}
"""Feature key (``ConfigFacts.features`` key, or ``consistency_guid`` for the source anchor) -> grants."""

CMDLET_FOR_GUID: Final[dict[str, str]] = {
    grant.object_type: grant.cmdlet for grants in FEATURE_GRANTS.values() for grant in grants
} | {UNEXPIRE_PASSWORD: _PWWB}
"""Which ADSyncConfig cmdlet grants a right, for remediation texts."""
