"""The lab's real directory (``--directory samba``): a Samba AD DC seeded from the pair's ``DirectoryModel``.

Per domain (DNS name, NetBIOS name, domain SID: the model's) one provisioned DC is cached under
``~/.cache/entra-standby/samba-lab-<domain>-<digest>`` (``ENTRA_STANDBY_SAMBA_CACHE`` moves it), built once
(~15 s) under a file lock. Each ``start()`` copies it into ``workdir``, seeds the scenario offline with
``samba_seed.py`` (Debian's python3: its OUs, the connector accounts with the scenario's SIDs and state,
their explicit ACEs; the DC computes the inherited copies), starts ``samba -i -M single`` on one loopback
address and waits for its rootDSE. The lab's users are made per start with fresh random passwords: an LDAP
reader (a plain Domain User), the lab's WinRM login, and one service account holding the lab servers'
HTTP/WSMAN/host SPNs, exported to a keytab so the WinRM servers' pyspnego acceptor takes Kerberos
(``KRB5_KTNAME``). Nothing leaves loopback: NetBIOS, DNS, DNS updates, replication, SMB and RPC are off.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..directory.sd import RIGHT_BITS
from ..errors import LabError
from . import samba_dc
from .directory_model import DirectoryModel, ModelAce, directory_model

if TYPE_CHECKING:
    from .lab import Lab

ADDRESS = "127.0.0.50"  # the tests' DC is 127.0.0.20; the lab servers are 127.0.0.11 and up
AUTO_ADDRESSES = tuple(f"127.0.0.{n}" for n in range(50, 70))  # address=None: the first free of these
SEED_SCRIPT = Path(__file__).with_name("samba_seed.py")
DEBIAN_PYTHON = "/usr/bin/python3"  # the interpreter Debian's samba bindings belong to
PROVISION_VERSION = "1"  # part of the cache key: bump when _provision changes what a cache holds
_PER_START_MARKER = "# --- per lab start"
DC_NAME = "dc1"
READER = "entra-reader"
SERVICE = "svc-winrm"
SERVICE_CLASSES = ("HTTP", "WSMAN", "host")  # pypsrp asks for host/<name> (measured), Windows registers WSMAN
_FILETIME_EPOCH = 11644473600  # seconds from 1601-01-01 to 1970-01-01

# ActiveDirectorySecurityInheritance -> SDDL ACE flags (CI: container inherit, IO: inherit only,
# NP: no propagate)
_INHERITANCE_FLAGS = {"none": "", "all": "CI", "descendents": "CIIO", "selfandchildren": "CINP",
                      "children": "CINPIO"}
_BITS = {name.lower(): bit for bit, name in RIGHT_BITS}
_ZERO = "00000000-0000-0000-0000-000000000000"
# Appended to random passwords: Samba's default complexity wants three of upper, lower, digit, symbol.
_COMPLEXITY = "-Aa1"


def _password() -> str:
    return secrets.token_urlsafe(18) + _COMPLEXITY


def _filetime(when: datetime) -> int:
    return int((when.timestamp() + _FILETIME_EPOCH) * 10_000_000)


def sddl_ace(ace: ModelAce) -> str:
    """One model ACE as SDDL, the form Samba's SDUtils adds (masks in hex; GUIDs make it an object ACE)."""
    mask = 0
    for right in ace.rights:
        bit = _BITS.get(right.lower())
        if bit is None:
            raise LabError(f"the lab directory does not know the right '{right}' (ActiveDirectoryRights)")
        mask |= bit
    flags = _INHERITANCE_FLAGS.get(ace.inheritance.lower())
    if flags is None:
        raise LabError(f"the lab directory does not know the inheritance '{ace.inheritance}' "
                       "(ActiveDirectorySecurityInheritance)")
    object_type = "" if ace.object_type == _ZERO else ace.object_type
    inherited = "" if ace.inherited_object_type == _ZERO else ace.inherited_object_type
    kind = ("A" if ace.allow else "D") if not (object_type or inherited) else ("OA" if ace.allow else "OD")
    if kind in ("A", "D"):
        return f"({kind};{flags};0x{mask:x};;;{ace.trustee_sid})"
    return f"({kind};{flags};0x{mask:x};{object_type};{inherited};{ace.trustee_sid})"


@dataclass(frozen=True)
class LabHost:
    """A lab WinRM server as Kerberos names it: its SPNs cover the name, the FQDN and the address."""

    name: str  # aadc01
    address: str  # 127.0.0.11


@dataclass(frozen=True)
class Login:
    """The lab's WinRM user, made in the DC too, so a Kerberos ticket can be had for it."""

    user: str
    password: str = field(repr=False)


def seed_input(model: DirectoryModel, *, reader_password: str, hosts: Sequence[LabHost] = (),
               login: Login | None = None, keytab: Path, now: datetime | None = None) -> dict[str, Any]:
    """What ``samba_seed.py scenario`` applies (it holds passwords: written owner-only, removed after)."""
    moment = now or datetime.now(UTC)
    spns = service_principals(model.domain, hosts)
    users = [{"sam": READER, "password": reader_password, "spns": []}]
    if login is not None:
        users.append({"sam": login.user, "password": login.password, "spns": []})
    if spns:
        users.append({"sam": SERVICE, "password": _password(), "spns": spns})
    return {
        "base_dn": model.base_dn,
        "ous": sorted((c.dn for c in model.containers if c.kind == "ou"), key=lambda dn: (dn.count(","), dn)),
        "accounts": [{
            "sam": a.sam_account_name, "dn": a.dn, "sid": a.sid, "enabled": a.enabled,
            "locked_out": a.locked_out, "password_expired": a.password_expired,
            "never_expires": a.password_never_expires, "password": _password(),
            "pwd_last_set": _filetime(a.password_last_set) if a.password_last_set else None,
        } for a in model.accounts],
        "aces": {c.dn: [sddl_ace(a) for a in c.aces] for c in model.containers},
        "users": users,
        "keytab": str(keytab),
        # One entry, the service account's keys: pyspnego's acceptor has no name of its own (GSS_C_NO_NAME),
        # so MIT tries every key in the keytab whatever SPN the ticket names (one export instead of one per
        # SPN: ~0.1-0.6 s each under load; proven by the Kerberos end-to-end test).
        "keytab_principals": [f"{SERVICE}@{model.domain.upper()}"] if spns else [],
        "now_filetime": _filetime(moment),
    }


def service_principals(domain: str, hosts: Sequence[LabHost]) -> list[str]:
    names: dict[str, None] = {}
    for host in hosts:
        for name in (host.name.lower(), f"{host.name.lower()}.{domain.lower()}", host.address):
            names.setdefault(name, None)
    return [f"{service}/{name}" for service in SERVICE_CLASSES for name in names]


def cache_root() -> Path:
    return Path(os.environ.get("ENTRA_STANDBY_SAMBA_CACHE", Path.home() / ".cache" / "entra-standby"))


def cache_dir(model: DirectoryModel) -> Path:
    digest = hashlib.sha256()
    for part in (PROVISION_VERSION, model.domain.lower(), model.netbios.upper(), model.domain_sid):
        digest.update(part.encode() + b"\0")
    # What a cache holds comes from the seed script's base part and the settings here: a change to either
    # rebuilds it, a change to the per-start seeding does not.
    digest.update(SEED_SCRIPT.read_text(encoding="utf-8").split(_PER_START_MARKER, 1)[0].encode())
    digest.update(json.dumps(_EXTRA_SETTINGS, sort_keys=True).encode())
    return cache_root() / f"samba-lab-{model.domain.lower()}-{digest.hexdigest()[:12]}"


# Settings added to the provisioned smb.conf: every file inside the DC's folder, every packet on loopback.
_EXTRA_SETTINGS = {
    "pid directory": "{d}/run", "ncalrpc dir": "{d}/run/ncalrpc",
    "winbindd socket directory": "{d}/run/winbindd", "ntp signd socket directory": "{d}/run/ntp_signd",
    "smb passwd file": "{d}/private/smbpasswd", "usershare path": "{d}/usershares",
    "log file": "{d}/log/samba.log", "disable netbios": "yes",
    "server services": "-dnsupdate -nbt -wrepl -dns -ntp_signd -kcc -drepl -winbindd -smb -s3fs -rpc",
    "dns update command": "/bin/true", "spn update command": "/bin/true",
    "ldap server require strong auth": "allow_sasl_over_tls",
    "kerberos encryption types": "all",
}


def _run(command: list[str], what: str, log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              check=False)
    if done.returncode != 0:
        text = log.read_text(encoding="utf-8", errors="replace")
        last = [line for line in text.splitlines() if line.strip()]
        why = last[-1].strip()[:300] if last else "no output"
        raise LabError(f"{what} failed (exit {done.returncode}): {why}", fix=f"see {log}")


@contextlib.contextmanager
def _flock(path: Path, *, wait: bool = True) -> Iterator[IO[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LabError(f"{path}: held by another lab's Samba DC") from None
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _require_samba() -> None:
    why = samba_dc.unavailable()
    if why is None and not Path(DEBIAN_PYTHON).is_file():
        why = f"{DEBIAN_PYTHON} (Debian's python3, which has samba's bindings) not found"
    if why is not None:
        raise LabError(f"--directory samba: {why}", fix=samba_dc.INSTALL_FIX)


class SambaDirectory:
    """A Samba AD DC holding ``model`` on ``address`` (loopback); ``start()`` / ``stop()`` or ``with``."""

    def __init__(self, model: DirectoryModel, workdir: Path, address: str | None = ADDRESS, *,
                 hosts: Sequence[LabHost] = (), login: Login | None = None) -> None:
        self.model = model
        self.workdir = Path(workdir)
        self._candidates = (address,) if address else AUTO_ADDRESSES
        self.address = address or AUTO_ADDRESSES[0]  # None: the first free of AUTO_ADDRESSES, at start
        self.hosts = tuple(hosts)
        self.login = login
        self.realm = model.domain.upper()
        self.dc_host = f"{DC_NAME}.{model.domain.lower()}"
        self._reader_password = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._alias_added = False
        self._address_lock: IO[str] | None = None

    def __repr__(self) -> str:
        return f"SambaDirectory({self.model.domain} on {self.address}, running={self.running})"

    # -- paths --------------------------------------------------------------------------------------------

    @property
    def run_dir(self) -> Path:
        return self.workdir / "samba-dc"

    @property
    def log_dir(self) -> Path:
        return self.workdir / "samba-log"

    @property
    def keytab(self) -> Path:
        """The WinRM services' keys (svc-winrm, which holds every lab server's SPNs): for KRB5_KTNAME."""
        return self.workdir / "lab-winrm.keytab"

    @property
    def krb5_conf(self) -> Path:
        return self.workdir / "krb5.conf"

    @property
    def ca_file(self) -> Path:
        """The DC's self-signed LDAPS CA (made at the cache's first start)."""
        return self.run_dir / "private" / "tls" / "ca.pem"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kerberos_env(self) -> dict[str, str]:
        """The environment for the lab's WinRM acceptor (and a client in the same process) to use this KDC."""
        return {"KRB5_CONFIG": str(self.krb5_conf), "KRB5_KTNAME": f"FILE:{self.keytab}"}

    # -- lifecycle ----------------------------------------------------------------------------------------

    def __enter__(self) -> SambaDirectory:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._proc is not None:
            raise LabError(f"the lab's Samba DC on {self.address} is already running")
        _require_samba()
        self._take_address()
        try:
            cache = ensure_cache(self.model, self.address)
            self._prepare(cache)
            self._alias_added = samba_dc.ensure_alias(self.address)
            self._proc = samba_dc.start(self.run_dir, self.address, self.log_dir)
        except BaseException:
            self.stop()
            raise

    def _take_address(self) -> None:
        """Hold the lock of this DC's address (or of the first free candidate) while the DC runs: Samba's
        ports are fixed, so two DCs (two labs, two pytest workers) need two addresses."""
        for candidate in self._candidates:
            handle = (Path(tempfile.gettempdir()) / f"entra-standby-samba-{candidate}.lock").open("a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            self._address_lock, self.address = handle, candidate
            return
        where = self._candidates[0] if len(self._candidates) == 1 else \
            f"{self._candidates[0]}-{self._candidates[-1].rsplit('.', 1)[1]}"
        raise LabError(f"{where}: another lab's Samba DC is running there",
                       fix="stop it, or give this lab another loopback address")

    def _prepare(self, cache: Path) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        samba_dc.copy_tree(cache, self.run_dir)
        conf = self.run_dir / "etc" / "smb.conf"
        text = re.sub(r"(?m)^(\s*interfaces\s*=).*$", rf"\1 {self.address}", conf.read_text(encoding="utf-8"))
        # Logs live beside the DC's folder, so a failed start's stay readable after stop() removed the DC.
        self.log_dir.mkdir(parents=True, exist_ok=True)
        text = re.sub(r"(?m)^(\s*log file\s*=).*$", rf"\1 {self.log_dir}/samba.log", text)
        conf.write_text(text, encoding="utf-8")
        self._reader_password = _password()
        self.keytab.unlink(missing_ok=True)
        seed = seed_input(self.model, reader_password=self._reader_password, hosts=self.hosts,
                          login=self.login, keytab=self.keytab)
        seed_file = self.workdir / "seed.json"
        fd = os.open(seed_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(seed, handle)
        try:
            _run([DEBIAN_PYTHON, str(SEED_SCRIPT), "scenario", str(conf), str(seed_file)],
                 f"seeding the lab's Samba DC for {self.model.domain}", self.log_dir / "seed.log")
        finally:
            seed_file.unlink(missing_ok=True)  # it holds the lab users' passwords
        samba_dc.write_krb5_conf(self.krb5_conf, self.realm, self.model.domain.lower(), self.address,
                                 tuple(dict.fromkeys(h for host in self.hosts for h in (host.name,
                                                                                        host.address))))

    def stop(self) -> None:
        """Stop the DC, remove what start added (address alias, its files, keytab). Idempotent."""
        try:
            if self._proc is not None:
                samba_dc.stop(self._proc.pid)
                self._proc = None
            if self._alias_added:
                samba_dc.remove_alias(self.address)
                self._alias_added = False
        finally:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            for path in (self.keytab, self.krb5_conf):
                path.unlink(missing_ok=True)
            self._reader_password = ""
            if self._address_lock is not None:
                self._address_lock.close()  # closing drops the flock
                self._address_lock = None

    # -- what the lab's inventory says --------------------------------------------------------------------

    def kerberos_connection(self) -> dict[str, Any]:
        """The pair's ``connection:`` keys for WinRM with Kerberos from this KDC (the lab's password stays
        the password source): needs ``login`` and the lab's login domain to be the realm."""
        if self.login is None:
            raise LabError("the lab's Samba DC was made without the lab's WinRM user (login)")
        return {"auth": "kerberos", "username": f"{self.login.user}@{self.realm}",
                "krb5_config": str(self.krb5_conf)}

    def inventory_block(self, *, auth: str = "ntlm", transport: str = "ldap") -> dict[str, Any]:
        """The pair's ``directory:`` block: the plain-user reader, NTLM (or Kerberos) signed and sealed on
        389, or over LDAPS with the DC's CA. The password is inline, as the lab's other secrets are (the
        directory block accepts that only for loopback DCs; lab inventories are written owner-only)."""
        if not self.running:
            raise LabError("the lab's Samba DC must be running to describe its directory block")
        username = f"{READER}@{self.realm}" if auth == "kerberos" else f"{self.model.netbios}\\{READER}"
        block: dict[str, Any] = {"domain": self.model.domain, "servers": [self.address],
                                 "transport": transport, "auth": auth, "username": username,
                                 "password": self._reader_password, "spn_host": self.dc_host}
        if auth == "kerberos":
            block["krb5_config"] = str(self.krb5_conf)
        if transport == "ldaps":
            block.update(ca_bundle=str(self.ca_file),
                         tls_server_name=f"{DC_NAME.upper()}.{self.model.domain}")
        return block


def for_lab(lab: Lab, address: str | None = None) -> SambaDirectory:
    """The (not yet started) DC for a running lab: its pair's model, its servers' SPNs, its WinRM user;
    on ``address``, or (None) the first of AUTO_ADDRESSES no other lab's DC holds.

    Kerberos to the lab's WinRM needs the lab's login domain to be the realm (``lab: {domain: CONTOSO.COM}``
    in the scenario): the acceptor compares the ticket's ``user@REALM`` with the lab's user."""
    if lab.directory is None or lab.credentials is None:
        raise LabError("the lab must be running before its Samba directory is made")
    model = directory_model([s.state for s in lab.servers.values()])
    hosts = [LabHost(s.name, s.address) for s in lab.servers.values()]
    return SambaDirectory(model, lab.directory / "samba", address, hosts=hosts,
                          login=Login(lab.credentials.user, lab.credentials.password))


def ensure_cache(model: DirectoryModel, address: str) -> Path:
    """The provisioned DC for the model's domain, built once (under a lock) and kept: returns its folder."""
    cache = cache_dir(model)
    if (cache / ".complete").exists():
        return cache
    prefix = f"samba-lab-{model.domain.lower()}-"
    with _flock(cache_root() / f".{prefix}lock"):
        if (cache / ".complete").exists():
            return cache
        tmp = cache.with_name(cache.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        _provision(model, tmp, address)
        samba_dc.relocate(tmp / "etc" / "smb.conf", tmp, cache)
        (tmp / ".complete").touch()
        shutil.rmtree(cache, ignore_errors=True)
        tmp.rename(cache)
        for old in cache.parent.glob(f"{prefix}*"):  # earlier provisioning versions of this domain
            if old != cache and not old.name.endswith(".lock"):
                shutil.rmtree(old, ignore_errors=True)
    return cache


def _provision(model: DirectoryModel, folder: Path, address: str) -> None:
    folder.mkdir(parents=True)
    log = folder / "provision.log"
    empty = folder / "empty.conf"
    empty.write_text("", encoding="utf-8")  # without -s, provision copies the host's smb.conf settings in
    _run(["samba-tool", "domain", "provision", "-s", str(empty), "--use-rfc2307",
          f"--realm={model.domain.upper()}", f"--domain={model.netbios}", f"--domain-sid={model.domain_sid}",
          "--server-role=dc", "--dns-backend=SAMBA_INTERNAL", f"--adminpass={_password()}",
          f"--targetdir={folder}",
          f"--host-ip={address}", f"--host-name={DC_NAME}", f"--option=interfaces={address}",
          "--option=bind interfaces only=yes", "--option=dns forwarder=127.0.0.1"],
         f"provisioning a Samba DC for {model.domain}", log)
    empty.unlink()
    conf = folder / "etc" / "smb.conf"
    extra = "".join(f"\t{k} = {v.format(d=folder)}\n" for k, v in _EXTRA_SETTINGS.items())
    conf.write_text(conf.read_text(encoding="utf-8").replace("[global]\n", "[global]\n" + extra, 1),
                    encoding="utf-8")
    for sub in ("run", "log", "usershares"):
        (folder / sub).mkdir(exist_ok=True)
    _run([DEBIAN_PYTHON, str(SEED_SCRIPT), "base", str(conf)], f"preparing the Samba DC for {model.domain}",
         log)
    # One start/stop so the TLS key and certificate (seconds to make) live in the cache.
    added = samba_dc.ensure_alias(address)
    try:
        proc = samba_dc.start(folder, address)
        samba_dc.stop(proc.pid)
    finally:
        if added:
            samba_dc.remove_alias(address)
