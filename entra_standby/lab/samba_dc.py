"""Run a provisioned Samba AD DC from a directory of its files: on one loopback address, in the foreground.

Shared by the lab's real directory (``samba_directory.py``) and the tests' DC (tests/sambadc.py). Samba
binds an address only if an interface carries it (samba-dc.md, "no network interfaces found"), so the
launcher adds the /32 to ``lo`` when missing and says so, for the caller to remove it again. The DC runs
``samba -i -M single`` in its own session (one signal stops all its processes); ``setpriv --pdeathsig``
makes it die with the thread that started it, so a killed lab leaves no DC behind (start it from a thread
that lives as long as the DC should: the main thread).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

from ..errors import LabError

START_TIMEOUT_S = 60.0
INSTALL_FIX = "run scripts/install-samba as root (Debian's samba packages), then start again as root"


def unavailable() -> str | None:
    """Why this machine cannot run a Samba DC (root, packages), or None."""
    if os.geteuid() != 0:
        return "a Samba AD DC needs root (it binds ports 88 and 389 on a loopback address)"
    missing = [tool for tool in ("samba", "samba-tool", "ip") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed"
    return None


def alive(pid: int) -> bool:
    """Running (a zombie whose parent has not reaped it yet counts as gone)."""
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ldap_answers(ip: str) -> bool:
    """Does the DC serve LDAP yet: an anonymous rootDSE read (a listening socket comes earlier)."""
    from ..directory import ldap

    try:
        with ldap.LdapConnection(ip, 389, tls=False, timeout=2) as conn:
            root = conn.search("", ldap.SCOPE_BASE, ldap.present("objectClass"), ["defaultNamingContext"])
            return bool(root)
    except Exception:
        return False


def ensure_alias(ip: str) -> bool:
    """Put ``ip``/32 on lo unless an interface has it; True when this call added it."""
    shown = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True,
                           check=True)
    if f"inet {ip}/" in shown.stdout:
        return False
    subprocess.run(["ip", "addr", "add", f"{ip}/32", "dev", "lo"], check=True, capture_output=True)
    return True


def remove_alias(ip: str) -> None:
    subprocess.run(["ip", "addr", "del", f"{ip}/32", "dev", "lo"], check=False, capture_output=True)


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a DC's files (sockets left out: copytree cannot copy them); only smb.conf names its folder."""

    def sockets(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if stat.S_ISSOCK(os.lstat(os.path.join(folder, n)).st_mode)]

    shutil.copytree(src, dst, ignore=sockets, symlinks=True)
    relocate(dst / "etc" / "smb.conf", src, dst)


def relocate(conf: Path, old: Path, new: Path) -> None:
    conf.write_text(conf.read_text(encoding="utf-8").replace(str(old), str(new)), encoding="utf-8")


def start(run_dir: Path, ip: str, log_dir: Path | None = None, *,
          die_with_parent: bool = True) -> subprocess.Popen[bytes]:
    """Start the DC of ``run_dir`` (its address alias must exist) and wait until LDAP answers on ``ip``;
    its output goes to ``log_dir``/foreground.log (default: the DC's own log folder). ``die_with_parent``:
    the DC gets SIGTERM when the starting thread ends (a DC shared by several processes must not)."""
    log_dir = log_dir or run_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / "foreground.log").open("ab")
    command = ["samba", "-i", "-M", "single", "-s", str(run_dir / "etc" / "smb.conf")]
    if die_with_parent and shutil.which("setpriv"):
        command = ["setpriv", "--pdeathsig", "TERM", *command]
    try:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=run_dir)
    finally:
        log.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"the Samba DC on {ip} exited with code {proc.returncode} while starting "
                           f"(log: {log_dir}/foreground.log)",
                           fix="is another DC or service on that address's ports 88/389/636?")
        if ldap_answers(ip):
            return proc
        time.sleep(0.1)
    stop(proc.pid)
    raise LabError(f"the Samba DC on {ip} did not answer LDAP within {START_TIMEOUT_S:.0f} s "
                   f"(log: {log_dir}/foreground.log)")


def stop(pid: int) -> None:
    """SIGTERM the DC's session, SIGKILL after 10 s; reap it when it is this process's child."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def write_krb5_conf(path: Path, realm: str, domain: str, kdc: str, hosts: tuple[str, ...] = ()) -> None:
    """A private krb5.conf: the KDC by address, no DNS for realm/KDC lookups nor host name canonicalisation;
    ``hosts`` (addresses or names outside ``domain``) are mapped to the realm too."""
    extra = "".join(f" {host} = {realm}\n" for host in hosts)
    path.write_text(
        f"[libdefaults]\n default_realm = {realm}\n dns_lookup_kdc = false\n dns_lookup_realm = false\n"
        f" dns_canonicalize_hostname = false\n rdns = false\n\n"
        f"[realms]\n {realm} = {{\n  kdc = {kdc}\n }}\n\n"
        f"[domain_realm]\n .{domain} = {realm}\n {domain} = {realm}\n{extra}", encoding="utf-8")
