"""A real Samba AD DC on 127.0.0.20 for the directory tests: provisioned once into a cache, started once.

``shared_dc()`` gives every pytest process (xdist workers too) the same running DC: the first one in starts
it from a copy of the cache, each registers its pid, and the last one out stops it (a file lock orders them;
pids of dead processes are pruned, so a killed run never keeps the DC forever). Everything stays on
loopback: the DC binds 127.0.0.20 only, with NetBIOS, DNS and replication off (tests/dc/build-dc.sh).
Needs root and Debian's samba packages (scripts/install-samba installs them; scripts/test calls it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from entra_standby.lab import samba_dc

ROOT = Path(__file__).resolve().parents[1]
SAMBA_DIR = Path(__file__).resolve().parent / "dc"
IP = "127.0.0.20"
REALM = "CONTOSO.TEST"
DOMAIN = "contoso.test"
BASE_DN = "DC=contoso,DC=test"
DC_HOST = "dc1.contoso.test"
PASSWORD = "Lab-Only-Pa55!"  # tests/dc/seed.py: every seeded user's password (lab-only domain)
STATE = Path(os.environ.get("ENTRA_STANDBY_SAMBA_RUN", "/tmp/entra-standby-samba"))
LOCK = Path("/tmp/entra-standby-samba.lock")


class SambaUnavailable(Exception):
    """Samba cannot run here (not root, packages missing): tests skip, except in CI, where they fail."""


@dataclass(frozen=True)
class RunningDC:
    ip: str
    run_dir: Path

    @property
    def ca_file(self) -> Path:
        return self.run_dir / "private" / "tls" / "ca.pem"

    @property
    def keytab(self) -> Path:
        """Keys of the lab's WinRM services (HTTP, WSMAN, host / aadc0N.contoso.test, 127.0.0.1N): seed.py."""
        return self.run_dir / "private" / "http.keytab"

    @property
    def krb5_conf(self) -> Path:
        return self.run_dir / "krb5.conf"


def _cache_dir() -> Path:
    digest = hashlib.sha256()
    for name in ("build-dc.sh", "seed.py"):
        digest.update((SAMBA_DIR / name).read_bytes())
    base = Path(os.environ.get("ENTRA_STANDBY_SAMBA_CACHE", Path.home() / ".cache" / "entra-standby"))
    return base / f"samba-dc-{digest.hexdigest()[:12]}"


def available() -> None:
    """Raise ``SambaUnavailable`` (with why) unless this machine can run the DC."""
    if os.geteuid() != 0:
        raise SambaUnavailable("the Samba DC tests need root (samba binds port 389/88 on 127.0.0.20)")
    if shutil.which("samba") is None or shutil.which("samba-tool") is None:
        raise SambaUnavailable("samba is not installed: run scripts/install-samba (scripts/test does)")


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_alive = samba_dc.alive
_stop = samba_dc.stop
_ldap_answers = samba_dc.ldap_answers


def _start(run_dir: Path, state: Path) -> int:
    if samba_dc.ensure_alias(IP):
        (state / "alias-added").touch()  # the last user out removes it (release)
    # shared by every pytest process: it outlives the one that started it (release() stops it)
    return samba_dc.start(run_dir, IP, die_with_parent=False).pid


def build_cache() -> Path:
    """The provisioned, seeded DC (with its TLS files), built once; returns its directory."""
    cache = _cache_dir()
    if (cache / ".complete").exists():
        return cache
    tmp = cache.with_name(cache.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["bash", str(SAMBA_DIR / "build-dc.sh"), str(tmp), IP], check=True,
                   stdin=subprocess.DEVNULL)
    # One start/stop so the TLS key and certificate (several seconds to make) live in the cache.
    pid = _start(tmp, tmp)
    _stop(pid)
    if (tmp / "alias-added").exists():
        (tmp / "alias-added").unlink()
        samba_dc.remove_alias(IP)
    (tmp / ".complete").touch()
    samba_dc.relocate(tmp / "etc" / "smb.conf", tmp, cache)
    shutil.rmtree(cache, ignore_errors=True)
    tmp.rename(cache)
    for old in cache.parent.glob("samba-dc-*"):  # caches of earlier build scripts
        if old != cache:
            shutil.rmtree(old, ignore_errors=True)
    return cache


def _krb5_conf(run_dir: Path) -> None:
    # the lab's WinRM servers, reached by address (host/127.0.0.1N in tests/dc/seed.py)
    samba_dc.write_krb5_conf(run_dir / "krb5.conf", REALM, DOMAIN, IP, ("127.0.0.11", "127.0.0.12"))


def acquire() -> RunningDC:
    """Register this process as a user of the shared DC, starting it if no live DC is running."""
    available()
    with _locked():
        cache = build_cache()
        users = STATE / "users"
        run_dir = STATE / "dc"
        pid_file = STATE / "samba.pid"
        pid = int(pid_file.read_text()) if pid_file.exists() else 0
        if not (pid and _alive(pid) and _ldap_answers(IP)):
            if pid:
                _stop(pid)
            alias = (STATE / "alias-added").exists()
            shutil.rmtree(STATE, ignore_errors=True)
            STATE.mkdir(parents=True)
            if alias:
                (STATE / "alias-added").touch()
            samba_dc.copy_tree(cache, run_dir)
            _krb5_conf(run_dir)
            pid_file.write_text(str(_start(run_dir, STATE)))
        users.mkdir(exist_ok=True)
        (users / str(os.getpid())).touch()
        return RunningDC(IP, run_dir)


def release() -> None:
    """Unregister; the last live user stops the DC and removes what it added (the address alias)."""
    with _locked():
        users = STATE / "users"
        with contextlib.suppress(FileNotFoundError):
            (users / str(os.getpid())).unlink()
        listed = list(users.iterdir()) if users.exists() else []
        live = [p for p in listed if p.name.isdigit() and _alive(int(p.name))]
        if live:
            return
        pid_file = STATE / "samba.pid"
        if pid_file.exists():
            _stop(int(pid_file.read_text()))
        if (STATE / "alias-added").exists():
            samba_dc.remove_alias(IP)
        shutil.rmtree(STATE, ignore_errors=True)
