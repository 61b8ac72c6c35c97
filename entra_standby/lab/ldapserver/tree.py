"""The lab directory's objects: the domain root, its OUs and containers, the accounts, and the rootDSE.

Built once from a ``DirectoryModel``: each object with its stored attributes and its DACL (explicit ACEs, a
DC's default ACEs for the class, then what it inherits from its parent; ``descriptors``). What a DC computes
per read (msDS-User-Account-Control-Computed, msDS-UserPasswordExpiryTimeComputed, tokenGroups) is computed
here too and returned only when asked for by name, as a DC does ([MS-ADTS] 3.1.1.4.5 constructed
attributes). The domain's password policy is "never expires" (maxPwdAge = -2^63), as tests/dc/seed.py sets
the real DC's, so an expiry time never depends on when the lab runs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ...directory.sd import RawAce
from ...errors import LabError
from ..directory_model import DirectoryModel, ModelAccount
from . import descriptors as sd

# schemaIDGUIDs ([MS-ADSC]) of the classes the lab stores; inheritance matches an ACE's inherited object type
USER_CLASS = "bf967aba-0de6-11d0-a285-00aa003049e2"
OU_CLASS = "bf967aa5-0de6-11d0-a285-00aa003049e2"
CONTAINER_CLASS = "bf967a8b-0de6-11d0-a285-00aa003049e2"
DOMAIN_CLASS = "19195a5b-6da0-11d0-afd3-00c04fd930c9"
_USER_FORCE_CHANGE_PASSWORD = "00299570-246d-11d0-a768-00aa006e0529"  # only to name a default ACE below
_USER_ACCOUNT_RESTRICTIONS = "4c164200-20c0-11d0-a768-00aa006e0529"  # property set
_REPLICATING_DIRECTORY_CHANGES = "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2"

# userAccountControl / msDS-User-Account-Control-Computed bits ([MS-ADTS] 2.2.16)
UF_ACCOUNTDISABLE, UF_LOCKOUT, UF_NORMAL_ACCOUNT = 0x2, 0x10, 0x200
UF_DONT_EXPIRE_PASSWD, UF_PASSWORD_EXPIRED = 0x10000, 0x800000
NEVER = 0x7FFFFFFFFFFFFFFF  # accountExpires / expiry time "never"
_FULL = 0x000F01FF  # CC DC LC SW RP WP DT LO CR SD RC WD WO
_READ = 0x00020094  # RP LC LO RC
_AUTHENTICATED_USERS, _SYSTEM, _ENTERPRISE_DCS = "S-1-5-11", "S-1-5-18", "S-1-5-9"
_PRE_WINDOWS_2000, _BUILTIN_USERS = "S-1-5-32-554", "S-1-5-32-545"


def normal_dn(dn: str) -> str:
    """A DN for comparison: RDNs trimmed around ',' and '=', case folded (AD compares DNs case-blind)."""
    parts = []
    for rdn in dn.split(","):
        name, _, value = rdn.partition("=")
        parts.append(f"{name.strip()}={value.strip()}".casefold())
    return ",".join(parts) if dn.strip() else ""


def parent_dn(dn: str) -> str:
    return dn.split(",", 1)[1].strip() if "," in dn else ""


def filetime(moment: datetime) -> int:
    return int((moment.astimezone(UTC) - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds() * 10_000_000)


@dataclass
class DirEntry:
    """One object: stored attributes (canonical name -> values), its DACL, and the account it is, if any."""

    dn: str
    object_class: str  # schemaIDGUID of the structural class
    attributes: dict[str, list[bytes]]
    dacl: list[RawAce] = field(default_factory=list)
    account: ModelAccount | None = None
    groups: tuple[str, ...] = ()  # tokenGroups SIDs for an account


@dataclass(frozen=True)
class Reader:
    """The lab's directory reader: a plain domain user (Domain Users only), as the audit needs."""

    sam_account_name: str
    sid: str
    dn: str


class DirectoryTree:
    """Every object of the lab's domain, by normalised DN."""

    def __init__(self, model: DirectoryModel, reader: Reader, dns_host: str) -> None:
        self.model = model
        self.reader = reader
        self.dns_host = dns_host
        self.entries: dict[str, DirEntry] = {}
        self._schema = f"CN=Schema,CN=Configuration,{model.base_dn}"
        self._build()

    # -- building -------------------------------------------------------------------------------------------

    def _build(self) -> None:
        model = self.model
        base = model.base_dn
        domain_admins, enterprise_admins = f"{model.domain_sid}-512", f"{model.domain_sid}-519"
        self._owner = domain_admins
        root_explicit = [
            RawAce(_SYSTEM, True, _FULL, 0), RawAce(domain_admins, True, _FULL, 0),
            RawAce(enterprise_admins, True, _FULL, sd.CONTAINER_INHERIT),
            RawAce(_AUTHENTICATED_USERS, True, _READ, 0),
            RawAce(_ENTERPRISE_DCS, True, 0x100, 0, _REPLICATING_DIRECTORY_CHANGES),
            RawAce(_PRE_WINDOWS_2000, True, 0x10, sd.CONTAINER_INHERIT | sd.INHERIT_ONLY,
                   _USER_ACCOUNT_RESTRICTIONS, USER_CLASS),
        ]
        root = model.container(base)
        if root is None or root.kind != "domain":
            raise LabError(f"the lab directory model has no domain root {base}")
        self._add(base, DOMAIN_CLASS, {
            "objectClass": ["top", "domain", "domainDNS"], "dc": [base.split(",")[0].split("=", 1)[1]],
            "objectSid": [sd.sid_bytes(model.domain_sid)], "maxPwdAge": [str(-(2**63))],
            "lockoutDuration": [str(-(2**63))], "objectCategory": [self._category("Domain-DNS")]},
            explicit=[*root_explicit, *(sd.from_model(a) for a in root.aces)])
        for container in sorted(model.containers, key=lambda c: len(c.dn.split(","))):
            if container.kind != "domain":
                self._ensure(container.dn, [sd.from_model(a) for a in container.aces])
        for account in model.accounts:
            self._add_user(account.dn, account.sam_account_name, account.sid, account)
        self._add_user(self.reader.dn, self.reader.sam_account_name, self.reader.sid, None)

    def _category(self, name: str) -> bytes:
        return f"CN={name},{self._schema}".encode()

    def _ensure(self, dn: str, explicit: list[RawAce] | None = None) -> DirEntry:
        """The container at ``dn``, created (with its parents) as an OU or a container as its RDN says."""
        found = self.entries.get(normal_dn(dn))
        if found is not None:
            if explicit:
                raise LabError(f"the lab directory model sets ACEs on {dn} twice")
            return found
        parent = parent_dn(dn)
        if not normal_dn(dn).endswith(normal_dn(self.model.base_dn)) or not parent:
            raise LabError(f"{dn} is not inside the lab's domain {self.model.base_dn}")
        self._ensure(parent)
        name, _, value = dn.split(",", 1)[0].partition("=")
        default = [RawAce(_SYSTEM, True, _FULL, 0), RawAce(self._owner, True, _FULL, 0),
                   RawAce(_AUTHENTICATED_USERS, True, _READ, 0)]
        if name.strip().upper() == "OU":
            return self._add(dn, OU_CLASS, {"objectClass": ["top", "organizationalUnit"],
                                            "ou": [value.strip()],
                                            "objectCategory": [self._category("Organizational-Unit")]},
                             explicit=[*default, *(explicit or [])])
        return self._add(dn, CONTAINER_CLASS, {"objectClass": ["top", "container"], "cn": [value.strip()],
                                               "objectCategory": [self._category("Container")]},
                         explicit=[*default, *(explicit or [])])

    def _add(self, dn: str, object_class: str, attributes: dict[str, list[str] | list[bytes]], *,
             explicit: list[RawAce]) -> DirEntry:
        key = normal_dn(dn)
        if key in self.entries:
            raise LabError(f"the lab directory model names {dn} twice")
        parent = self.entries.get(normal_dn(parent_dn(dn)))
        inherited = sd.inherit(parent.dacl, object_class) if parent is not None else []
        stored: dict[str, list[bytes]] = {
            name: [v.encode() if isinstance(v, str) else v for v in values]
            for name, values in attributes.items()}
        stored["distinguishedName"] = [dn.encode()]
        stored["name"] = [dn.split(",", 1)[0].partition("=")[2].strip().encode()]
        stored["objectGUID"] = [uuid.uuid5(uuid.NAMESPACE_URL, f"entra-standby-lab-dn:{key}").bytes_le]
        entry = DirEntry(dn, object_class, stored, [*sd.canonical(explicit), *inherited])
        self.entries[key] = entry
        return entry

    def _add_user(self, dn: str, sam: str, sid: str, account: ModelAccount | None) -> None:
        self._ensure(parent_dn(dn))
        uac = UF_NORMAL_ACCOUNT
        pwd_last_set = 0
        if account is not None:
            uac |= 0 if account.enabled else UF_ACCOUNTDISABLE
            uac |= UF_DONT_EXPIRE_PASSWD if account.password_never_expires else 0
            if not account.password_expired:
                # A password that is not expired was set at some time; "unknown" reads as a fixed day.
                when = account.password_last_set or datetime(2024, 1, 1, tzinfo=UTC)
                pwd_last_set = filetime(when)
        else:
            uac |= UF_DONT_EXPIRE_PASSWD
            pwd_last_set = filetime(datetime(2024, 1, 1, tzinfo=UTC))
        attributes: dict[str, list[str] | list[bytes]] = {
            "objectClass": ["top", "person", "organizationalPerson", "user"], "cn": [sam],
            "sAMAccountName": [sam], "userPrincipalName": [f"{sam}@{self.model.domain}"],
            "objectSid": [sd.sid_bytes(sid)], "objectCategory": [self._category("Person")],
            "userAccountControl": [str(uac)], "pwdLastSet": [str(pwd_last_set)],
            "accountExpires": [str(NEVER)],
            "primaryGroupID": ["513"], "sAMAccountType": ["805306368"],
        }
        if account is not None and account.locked_out:
            attributes["lockoutTime"] = [str(filetime(datetime(2024, 1, 1, tzinfo=UTC)))]
        entry = self._add(dn, USER_CLASS, attributes, explicit=[
            RawAce(_SYSTEM, True, _FULL, 0), RawAce(self._owner, True, _FULL, 0),
            RawAce(_AUTHENTICATED_USERS, True, _READ, 0), RawAce("S-1-5-10", True, _READ, 0)])
        entry.account = account
        entry.groups = (f"{self.model.domain_sid}-513", _BUILTIN_USERS)  # Domain Users, BUILTIN\Users

    # -- reading --------------------------------------------------------------------------------------------

    def get(self, dn: str) -> DirEntry | None:
        return self.entries.get(normal_dn(dn))

    def descriptor(self, entry: DirEntry, flags: int) -> bytes:
        """nTSecurityDescriptor with the parts the SD flags ask for (never the SACL: not stored here)."""
        return sd.descriptor_bytes(
            self._owner if flags & sd.OWNER_SECURITY_INFORMATION else None,
            self._owner if flags & sd.GROUP_SECURITY_INFORMATION else None,
            entry.dacl if flags & sd.DACL_SECURITY_INFORMATION else None)

    @staticmethod
    def computed(entry: DirEntry, name: str) -> list[bytes] | None:
        """A constructed attribute of an account ([MS-ADTS] 3.1.1.4.5), None if ``name`` is not one."""
        key = name.casefold()
        uac = int(entry.attributes.get("userAccountControl", [b"0"])[0])
        pwd_last_set = int(entry.attributes.get("pwdLastSet", [b"0"])[0])
        if entry.object_class != USER_CLASS:
            return None
        if key == "msds-user-account-control-computed":
            bits = UF_LOCKOUT if "lockoutTime" in entry.attributes else 0
            if pwd_last_set == 0:  # must change at next logon: expired ([MS-ADTS] 3.1.1.4.5.17)
                bits |= UF_PASSWORD_EXPIRED
            return [str(bits).encode()]
        if key == "msds-userpasswordexpirytimecomputed":
            # 0 when the password must change; "never" for never-expiring passwords and under this domain's
            # policy (maxPwdAge never) ([MS-ADTS] 3.1.1.4.5.33)
            return [b"0" if pwd_last_set == 0 and not uac & UF_DONT_EXPIRE_PASSWD else str(NEVER).encode()]
        return None

    def root_dse(self) -> dict[str, list[bytes]]:
        base = self.model.base_dn
        now = datetime.now(UTC).strftime("%Y%m%d%H%M%S.0Z")
        values: dict[str, list[str]] = {
            "defaultNamingContext": [base], "rootDomainNamingContext": [base],
            "namingContexts": [base, f"CN=Configuration,{base}", self._schema],
            "configurationNamingContext": [f"CN=Configuration,{base}"], "schemaNamingContext": [self._schema],
            "dnsHostName": [self.dns_host], "ldapServiceName": [f"{self.model.domain}:{self.dns_host}$@"
                                                                f"{self.model.domain.upper()}"],
            "supportedLDAPVersion": ["3"], "supportedSASLMechanisms": ["GSS-SPNEGO"],
            "supportedControl": ["1.2.840.113556.1.4.801"],  # SD flags: the one control the lab serves
            "supportedCapabilities": ["1.2.840.113556.1.4.800"],  # LDAP_CAP_ACTIVE_DIRECTORY_OID
            "isSynchronized": ["TRUE"], "currentTime": [now], "domainFunctionality": ["7"],
        }
        return {name: [v.encode() for v in vals] for name, vals in values.items()}
