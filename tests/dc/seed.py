"""Seed the test DC's directory (run by build-dc.sh with Debian's python3, which has Samba's bindings).

Every object the directory tests read is made here, once per cache build, directly on sam.ldb.
Connector accounts (MSOL_ names as Entra Connect's express install makes them):
  MSOL_full      the express rights, granted directly: replication rights on the domain root (this object
                 only) and, on OU=Sync, Reset Password + write lockoutTime/pwdLastSet/mS-DS-ConsistencyGuid
                 inherited to user objects
  MSOL_group     the same rights through the group SyncRights
  MSOL_bare      no rights at all
  MSOL_scoped    the right GUIDs, but where they do not apply: inherit-only on the root, "this object only"
                 on the OU, and writes inherited to group objects only
  MSOL_denied    the express rights through SyncRights, and a Deny of Replicating Directory Changes All
  MSOL_disabled  disabled; MSOL_locked locked out; MSOL_expired must change its password
auditor: a plain user (Domain Users only) that reads the DACLs.
"""

import sys
import time

import ldb
from samba import param
from samba.auth import system_session
from samba.dcerpc import security
from samba.ndr import ndr_unpack
from samba.samdb import SamDB
from samba.sd_utils import SDUtils

PASSWORD = "Lab-Only-Pa55!"  # every test user's password (a lab-only domain on loopback)
REPL = "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2"
REPL_ALL = "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2"
RESET = "00299570-246d-11d0-a768-00aa006e0529"
LOCKOUT_TIME = "28630ebf-41d5-11d1-a9c1-0000f80367c1"
PWD_LAST_SET = "bf967a0a-0de6-11d0-a285-00aa003049e2"
CONSISTENCY = "23773dc2-b63a-11d2-90e1-00c04fd91ab1"
USER = "bf967aba-0de6-11d0-a285-00aa003049e2"
GROUP = "bf967a9c-0de6-11d0-a285-00aa003049e2"

lp = param.LoadParm()
lp.load(sys.argv[1])
db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
sd = SDUtils(db)
root = str(db.domain_dn())

for ou in ("Sync", "Other"):
    db.create_ou(f"OU={ou},{root}")
db.newuser("alice", PASSWORD, userou="OU=Sync")
db.newuser("auditor", PASSWORD)
db.newgroup("SyncRights")
for name in ("full", "group", "bare", "scoped", "denied", "disabled", "locked", "expired"):
    db.newuser(f"MSOL_{name}", PASSWORD)
db.add_remove_group_members("SyncRights", ["MSOL_group", "MSOL_denied"], add_members_operation=True)


def sid(name: str) -> str:
    res = db.search(root, scope=ldb.SCOPE_SUBTREE, expression=f"(sAMAccountName={name})", attrs=["objectSid"])
    return str(ndr_unpack(security.dom_sid, res[0]["objectSid"][0]))


def express(trustee: str) -> None:
    s = sid(trustee)
    sd.dacl_add_ace(root, f"(OA;;CR;{REPL};;{s})(OA;;CR;{REPL_ALL};;{s})")
    sd.dacl_add_ace(f"OU=Sync,{root}", f"(OA;CIIO;CR;{RESET};{USER};{s})"
                    f"(OA;CIIO;WP;{LOCKOUT_TIME};{USER};{s})(OA;CIIO;WP;{PWD_LAST_SET};{USER};{s})"
                    f"(OA;CIIO;WP;{CONSISTENCY};{USER};{s})")


express("MSOL_full")
express("SyncRights")
s = sid("MSOL_scoped")
sd.dacl_add_ace(root, f"(OA;CIIO;CR;{REPL};;{s})(OA;CIIO;CR;{REPL_ALL};;{s})")
sd.dacl_add_ace(f"OU=Sync,{root}", f"(OA;;CR;{RESET};;{s})(OA;CIIO;WP;{LOCKOUT_TIME};{GROUP};{s})"
                f"(OA;CIIO;WP;{PWD_LAST_SET};{GROUP};{s})(OA;CIIO;WP;{CONSISTENCY};{GROUP};{s})")
sd.dacl_add_ace(root, f"(OD;;CR;{REPL_ALL};;{sid('MSOL_denied')})")

db.disable_account("(sAMAccountName=MSOL_disabled)")
# Locked: the domain locks after bad passwords until an admin unlocks (duration 0), and this account is.
NEVER = "-9223372036854775808"
db.modify(ldb.Message.from_dict(db, {"dn": root, "lockoutThreshold": "5", "lockoutDuration": NEVER,
                                     "lockOutObservationWindow": "-18000000000"}, ldb.FLAG_MOD_REPLACE))


def dn_of(name: str) -> str:
    return str(db.search(root, scope=ldb.SCOPE_SUBTREE, expression=f"(sAMAccountName={name})")[0].dn)


locked = dn_of("MSOL_locked")
filetime = int((time.time() + 11644473600) * 10_000_000)
db.modify(ldb.Message.from_dict(db, {"dn": str(locked), "lockoutTime": str(filetime)}, ldb.FLAG_MOD_REPLACE))
expired = dn_of("MSOL_expired")
db.modify(ldb.Message.from_dict(db, {"dn": str(expired), "pwdLastSet": "0"}, ldb.FLAG_MOD_REPLACE))
# Passwords never expire domain-wide: the cache is built once and must read the same months later.
db.modify(ldb.Message.from_dict(db, {"dn": root, "maxPwdAge": NEVER}, ldb.FLAG_MOD_REPLACE))
# The DC's LDAP SPNs (provision leaves them to samba_spnupdate, which is off here): Kerberos binds need them.
dc_dn = str(db.search(root, scope=ldb.SCOPE_SUBTREE, expression="(sAMAccountName=DC1$)")[0].dn)
spns = ["ldap/dc1.contoso.test", "ldap/dc1.contoso.test/contoso.test", "ldap/dc1.contoso.test/CONTOSO"]
db.modify(ldb.Message.from_dict(db, {"dn": dc_dn, "servicePrincipalName": spns}, ldb.FLAG_MOD_ADD))
# The lab's WinRM servers as Kerberos services: one service account holds their HTTP/ SPNs; AES keys need
# msDS-SupportedEncryptionTypes set before the password (else the keytab is RC4-only; samba-dc.md section 4).
db.newuser("svc-winrm", PASSWORD)
winrm = dn_of("svc-winrm")
# The lab's hosts are addresses (healthy-pair: 127.0.0.11 and .12); pypsrp as the audit builds it asks for
# host/<address> (pyspnego's default service; measured with KRB5_TRACE), WSMAN/<host> is Windows' own SPN.
spns = [f"{service}/{host}" for service in ("HTTP", "WSMAN", "host")
        for host in ("aadc01.contoso.test", "aadc02.contoso.test", "127.0.0.11", "127.0.0.12")]
db.modify(ldb.Message.from_dict(db, {"dn": winrm, "msDS-SupportedEncryptionTypes": "24",
                                     "servicePrincipalName": spns}, ldb.FLAG_MOD_REPLACE))
db.setpassword("(sAMAccountName=svc-winrm)", PASSWORD + "-winrm")
