"""One drill per pair at a time: a lock file per pair that outlives a crashed run.

The lock is a file created with ``O_CREAT | O_EXCL`` (atomic on local file systems) holding who took it:
user, host, PID, when and with which command. A second run finds it and refuses with one line naming the
holder. When the holder ran on this host and its process is gone, the lock is *kept*: the run may have
died half-way through a switch, so a human audits the pair first and then removes the lock with
``entra-standby unlock --pair NAME`` (``remove_lock``). Release removes the file only if it is still ours.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shlex
import socket
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from ..errors import DrillError
from .filenames import pair_file_stem

__all__ = ["LockHolder", "PairLock", "default_lock_dir", "holder_state", "list_locks", "lock_path",
           "read_lock", "remove_lock"]

_READ_RETRIES = 20  # a lock file is written right after it is created: give a starting run ~1 s
_READ_RETRY_S = 0.05


@dataclass(frozen=True)
class LockHolder:
    """What a lock file says about the run that holds it."""

    pair: str
    user: str
    hostname: str
    pid: int
    started_utc: str  # ISO 8601, e.g. 2026-11-25T18:13:19Z
    command: str
    token: str = ""  # random per acquisition: release removes only the file it wrote
    boot_id: str | None = None  # Linux: tells a PID from before a reboot
    process_start: int | None = None  # Linux: the PID's start time in clock ticks (tells PID reuse)

    def describe(self) -> str:
        """``alice@aadm01 pid 4242, since 2026-11-25T18:13:19Z, running `entra-standby drill --pair p```."""
        return (f"{self.user}@{self.hostname} pid {self.pid}, since {self.started_utc}, "
                f"running `{self.command}`")


def default_lock_dir() -> Path:
    """``${XDG_STATE_HOME:-~/.local/state}/entra-standby/locks`` (state, not cache: it must survive)."""
    state = os.environ.get("XDG_STATE_HOME") or ""
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "entra-standby" / "locks"


def lock_path(pair: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """The lock file of ``pair`` (its name encoded so that any pair name is a safe file name)."""
    base = Path(directory) if directory is not None else default_lock_dir()
    return base / f"{pair_file_stem(pair)}.lock"


def read_lock(pair: str, directory: str | os.PathLike[str] | None = None) -> LockHolder | None:
    """Who holds the pair's lock, or None when it is free. ``DrillError`` if the file is unreadable."""
    path = lock_path(pair, directory)
    return _read_holder(path, pair)


def list_locks(directory: str | os.PathLike[str] | None = None) -> list[LockHolder]:
    """Every readable lock in the directory (for ``unlock`` to say which pairs are locked)."""
    base = Path(directory) if directory is not None else default_lock_dir()
    holders: list[LockHolder] = []
    for path in sorted(base.glob("*.lock")):
        with contextlib.suppress(DrillError):
            holder = _read_holder(path, path.stem, retries=0)
            if holder is not None:
                holders.append(holder)
    return holders


def remove_lock(pair: str, directory: str | os.PathLike[str] | None = None) -> LockHolder | None:
    """Remove the pair's lock whoever holds it (``entra-standby unlock``); returns the holder it removed."""
    path = lock_path(pair, directory)
    try:
        holder = _read_holder(path, pair)
    except DrillError:
        holder = None  # an unreadable lock is removed all the same: that is what unlock is for
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DrillError(f"pair '{pair}': cannot remove lock {path}: {exc.strerror}",
                         fix="check the permissions of the lock directory") from None
    return holder


class PairLock:
    """``with PairLock("contoso-prod"):`` holds the pair's drill lock for the block.

    Leaving the block normally releases the lock. Leaving it by an exception keeps the lock unless
    ``release_on_error`` is true: an unexpected error may have left the pair half-switched, and a kept
    lock makes the next run stop and ask for an audit.
    """

    def __init__(self, pair: str, *, directory: str | os.PathLike[str] | None = None,
                 command: str | None = None, release_on_error: bool = False) -> None:
        self.pair = pair
        self.path = lock_path(pair, directory)
        self.command = command if command is not None else _this_command()
        self.release_on_error = release_on_error
        self.holder: LockHolder | None = None  # set while we hold it

    @property
    def held(self) -> bool:
        return self.holder is not None

    def acquire(self) -> LockHolder:
        """Take the lock or raise ``DrillError`` naming who holds it and what to do."""
        if self.holder is not None:
            raise DrillError(f"pair '{self.pair}': this run already holds the drill lock {self.path}")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise DrillError(f"pair '{self.pair}': cannot create the lock directory {self.path.parent}: "
                             f"{exc.strerror}", fix="pass a writable lock directory") from None
        holder = _me(self.pair, self.command)
        data = json.dumps(asdict(holder), indent=2).encode("utf-8")
        fd = self._create()
        try:
            os.write(fd, data)
            os.fsync(fd)  # a power cut right after must not leave an empty lock behind
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                self.path.unlink()
            raise DrillError(f"pair '{self.pair}': cannot write lock {self.path}: {exc.strerror}",
                             fix="free space or fix permissions in the lock directory") from None
        os.close(fd)
        self.holder = holder
        return holder

    def _create(self) -> int:
        for _ in range(3):  # a holder that releases between our attempt and our read: try again
            try:
                return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                error = self._held_error()
                if error is not None:
                    raise error from None
            except OSError as exc:
                raise DrillError(f"pair '{self.pair}': cannot create lock {self.path}: {exc.strerror}",
                                 fix="pass a writable lock directory") from None
        raise DrillError(f"pair '{self.pair}': the drill lock {self.path} keeps changing hands",
                         fix="another run is starting on this pair: let it finish, then try again")

    def release(self) -> bool:
        """Remove the lock file if it is still the one we wrote; True if it was removed."""
        ours, self.holder = self.holder, None
        if ours is None:
            return False
        try:
            current = _read_holder(self.path, self.pair, retries=0)
        except DrillError:
            return False  # not something we wrote: leave it for a human
        if current is None or current.token != ours.token:
            return False
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        return True

    def __enter__(self) -> PairLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None or self.release_on_error:
            self.release()

    def _held_error(self) -> DrillError | None:
        """Why the lock cannot be had, or None when it was released meanwhile."""
        unlock = f"`entra-standby unlock --pair {shlex.quote(self.pair)}`"
        holder = _read_holder(self.path, self.pair)
        if holder is None:
            return None
        where = f"pair '{self.pair}' is locked by another drill: {holder.describe()}"
        state = holder_state(holder)
        if state == "gone":
            return DrillError(
                f"{where}; the run that held it is no longer running (it crashed or was killed): "
                f"the pair may be mid-switch — audit it before removing the lock with {unlock}",
                fix=f"run the readiness checks on pair '{self.pair}', then {unlock}")
        if state == "running":
            return DrillError(f"{where} (still running on this host)",
                              fix="wait for it to finish; two drills on one pair never run at once")
        return DrillError(f"{where} (on another host: check there whether it still runs)",
                          fix=f"wait for it to finish; if it is gone, audit the pair, then {unlock} "
                              f"(lock file {self.path})")


# --- helpers ---------------------------------------------------------------------------------------------


def _read_holder(path: Path, pair: str, *, retries: int | None = None) -> LockHolder | None:
    unlock = f"`entra-standby unlock --pair {shlex.quote(pair)}`"
    tries = _READ_RETRIES if retries is None else retries
    problem = ""
    for attempt in range(tries + 1):
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DrillError(f"pair '{pair}': cannot read lock {path}: {exc.strerror}",
                             fix="check the permissions of the lock directory") from None
        try:
            raw = json.loads(text)
            return LockHolder(pair=str(raw["pair"]), user=str(raw["user"]), hostname=str(raw["hostname"]),
                              pid=int(raw["pid"]), started_utc=str(raw["started_utc"]),
                              command=str(raw["command"]), token=str(raw.get("token", "")),
                              boot_id=raw.get("boot_id"), process_start=raw.get("process_start"))
        except (ValueError, KeyError, TypeError):
            problem = "is empty" if not text.strip() else "is not a lock this tool wrote"
        if attempt < tries:
            time.sleep(_READ_RETRY_S)  # the holder creates the file, then writes it: wait for the content
    raise DrillError(f"pair '{pair}': lock file {path} {problem}; a run may have died while taking it",
                     fix=f"audit the pair, then {unlock}")


def holder_state(holder: LockHolder) -> str:
    """``running`` / ``gone`` for a holder on this host (PID, reboot, PID reuse); ``unknown`` elsewhere."""
    if holder.hostname != socket.gethostname():
        return "unknown"
    if holder.boot_id is not None and _boot_id() not in (None, holder.boot_id):
        return "gone"  # the machine rebooted since
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return "unknown"
    if holder.process_start is not None:
        start = _process_start(holder.pid)
        if start is not None and start != holder.process_start:
            return "gone"  # the PID was reused by an unrelated process
    return "running"


def _me(pair: str, command: str) -> LockHolder:
    pid = os.getpid()
    return LockHolder(pair=pair, user=_user(), hostname=socket.gethostname(), pid=pid,
                      started_utc=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), command=command,
                      token=uuid.uuid4().hex, boot_id=_boot_id(), process_start=_process_start(pid))


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _this_command() -> str:
    words = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    text = shlex.join(words)
    return text if len(text) <= 300 else text[:297] + "..."


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def _process_start(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time after boot, in ticks); None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    try:  # the command name (field 2) may hold spaces and parentheses: split after its last ')'
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (ValueError, IndexError):
        return None
