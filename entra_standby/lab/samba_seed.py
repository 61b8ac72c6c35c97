"""Seed a provisioned Samba AD DC offline (run by Debian's /usr/bin/python3, which has Samba's bindings).

Not imported by entra_standby: ``samba_directory.py`` runs it as a script, as root, on a stopped DC's files,
through SamDB as the system session (no server, no network). Two modes:

``base CONF``            once per cached domain: policies that make a cache read the same months later, the
                         DC's LDAP SPNs (provision leaves them to samba_spnupdate, which is off here).
``scenario CONF SEED``   per lab start, from the JSON ``samba_directory.seed_input`` writes: the lab
                         scenario's OUs, connector accounts (with the scenario's SIDs and state) and their
                         ACEs, the lab's own users (LDAP reader, WinRM login, the WinRM services' account
                         with their SPNs), and that account's keytab.

Times and ACEs arrive ready-made (FILETIMEs, SDDL) so this file stays free of the tool's vocabulary.
"""

import gc
import json
import sys

import ldb
from samba import enable_net_export_keytab, param
from samba.auth import system_session
from samba.dcerpc import security
from samba.ndr import ndr_pack
from samba.net import Net
from samba.samdb import SamDB
from samba.sd_utils import SDUtils

NEVER = "-9223372036854775808"  # a policy duration of "never" (AD's largest negative interval)
UF_NORMAL, UF_DISABLED, UF_DONT_EXPIRE = 0x200, 0x2, 0x10000
AES_ONLY = "24"  # msDS-SupportedEncryptionTypes AES128|AES256: else the exported keytab is RC4-only


def open_db(conf: str) -> tuple[param.LoadParm, SamDB]:
    lp = param.LoadParm()
    lp.load(conf)
    return lp, SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)


def replace(db: SamDB, dn: str, attrs: dict[str, object]) -> None:
    db.modify(ldb.Message.from_dict(db, {"dn": dn, **attrs}, ldb.FLAG_MOD_REPLACE))


def base(conf: str) -> None:
    lp, db = open_db(conf)
    root = str(db.domain_dn())
    # Passwords never expire by age (a cache is built once and must read the same later; an expired account
    # is seeded as "must change" instead); lockouts last until an admin unlocks (duration 0 = never).
    replace(db, root, {"maxPwdAge": NEVER, "lockoutThreshold": "5", "lockoutDuration": NEVER,
                       "lockOutObservationWindow": "-18000000000"})
    host = lp.get("netbios name").lower()
    dns = f"{host}.{lp.get('realm').lower()}"
    dc = db.search(root, scope=ldb.SCOPE_SUBTREE, expression=f"(sAMAccountName={host.upper()}$)")[0]
    spns = [f"ldap/{dns}", f"ldap/{dns}/{lp.get('realm').lower()}", f"ldap/{dns}/{lp.get('workgroup')}"]
    db.modify(ldb.Message.from_dict(db, {"dn": str(dc.dn), "servicePrincipalName": spns}, ldb.FLAG_MOD_ADD))


# --- per lab start (above this line: what a cached domain holds; samba_directory.cache_dir hashes it) ---


def _exists(db: SamDB, dn: str) -> bool:
    try:
        return bool(db.search(dn, scope=ldb.SCOPE_BASE, attrs=["objectClass"]))
    except ldb.LdbError:
        return False


def scenario(conf: str, seed_file: str) -> None:
    with open(seed_file, encoding="utf-8") as handle:
        seed = json.load(handle)
    lp, db = open_db(conf)
    sd = SDUtils(db)
    # The lab's WinRM login keeps the lab's own random password (Kerberos must accept the same one), which
    # need not meet AD's complexity rules: a lab-only domain on loopback turns them off (pwdProperties 0).
    replace(db, str(db.domain_dn()), {"pwdProperties": "0"})
    for ou in seed["ous"]:  # parents first (sorted by depth by the caller)
        if not _exists(db, ou):
            db.create_ou(ou)
    for account in seed["accounts"]:
        parent = account["dn"].split(",", 1)[1]
        if not _exists(db, parent):
            db.create_ou(parent)
        # As the system session the DC takes the scenario's SID instead of allocating a RID.
        db.add({"dn": account["dn"], "objectClass": "user", "sAMAccountName": account["sam"],
                "objectSid": ndr_pack(security.dom_sid(account["sid"]))})
        db.setpassword(f"(sAMAccountName={account['sam']})", account["password"])
        uac = UF_NORMAL | (UF_DISABLED if not account["enabled"] else 0)
        # "Password never expires" overrides "must change at next logon" on a DC ([MS-ADTS] 3.1.1.4.5.17):
        # an expired account cannot keep it, so the state the verdict depends on wins.
        uac |= UF_DONT_EXPIRE if account["never_expires"] and not account["password_expired"] else 0
        attrs: dict[str, object] = {"userAccountControl": str(uac)}
        if account["locked_out"]:
            attrs["lockoutTime"] = str(seed["now_filetime"])
        replace(db, account["dn"], attrs)
        if account["password_expired"]:
            replace(db, account["dn"], {"pwdLastSet": "0"})  # "must change at next logon"
    for user in seed["users"]:
        db.newuser(user["sam"], user["password"])
        if user["spns"]:
            dn = str(db.search(str(db.domain_dn()), scope=ldb.SCOPE_SUBTREE,
                               expression=f"(sAMAccountName={user['sam']})")[0].dn)
            # AES keys only exist when the enctypes are set before the password (samba-dc.md section 4)
            replace(db, dn, {"msDS-SupportedEncryptionTypes": AES_ONLY, "servicePrincipalName": user["spns"]})
            db.setpassword(f"(sAMAccountName={user['sam']})", user["password"])
    for dn, aces in seed["aces"].items():
        if aces:
            sd.dacl_add_ace(dn, "".join(aces))
    enable_net_export_keytab()
    net = Net(None, lp)
    for principal in seed["keytab_principals"]:
        net.export_keytab(keytab=seed["keytab"], principal=principal)
    partition = lp.private_path(f"sam.ldb.d/{seed['base_dn'].upper()}.ldb")
    del net, sd, db
    gc.collect()
    kept = [a for a in seed["accounts"] if a["pwd_last_set"] and not a["password_expired"]]
    _set_pwd_last_set(partition, kept)


def _set_pwd_last_set(partition: str, accounts: list[dict[str, object]]) -> None:
    """pwdLastSet as the scenario says. The DC's modules accept only 0 and -1 there, so the value goes into
    the stopped DC's partition file without them (a single DC: no replication metadata to keep in step)."""
    if not accounts:
        return
    raw = ldb.Ldb()
    raw.connect(partition, options=["modules:"])
    for account in accounts:
        message = ldb.Message()
        message.dn = ldb.Dn(raw, str(account["dn"]))
        message["pwdLastSet"] = ldb.MessageElement(str(account["pwd_last_set"]), ldb.FLAG_MOD_REPLACE,
                                                   "pwdLastSet")
        raw.modify(message)


if __name__ == "__main__":
    if sys.argv[1] == "base":
        base(sys.argv[2])
    else:
        scenario(sys.argv[2], sys.argv[3])
