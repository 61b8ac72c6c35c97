"""The per-pair drill lock: atomic, names its holder, survives a crashed run, released only by its owner."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from entra_standby.drill import lock as lock_module
from entra_standby.drill.lock import PairLock, default_lock_dir, lock_path, read_lock, remove_lock
from entra_standby.errors import DrillError

PAIR = "contoso-prod"

# A drill in another process: takes the lock when told ("go"), says whether it won, then holds it until
# its standard input has another line (or it is killed). Lines on stdout/stdin are the only sync.
HOLDER = textwrap.dedent("""\
    import sys
    from entra_standby.drill.lock import PairLock
    from entra_standby.errors import DrillError
    directory, pair = sys.argv[1], sys.argv[2]
    lock = PairLock(pair, directory=directory, command=f"entra-standby drill --pair {pair}")
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        lock.acquire()
    except DrillError as exc:
        print(f"lost {exc}", flush=True)
        sys.exit(0)
    print("won", flush=True)
    sys.stdin.readline()
    lock.release()
""")


class Holder:
    """One HOLDER process."""

    def __init__(self, directory: Path, pair: str = PAIR) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory), pair],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.line() == "ready"

    def line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def send(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def finish(self) -> int:
        if self.proc.poll() is None:
            self.send()
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        if holder.proc.poll() is None:
            holder.kill()


def test_acquire_writes_who_holds_it_and_release_removes_it(tmp_path: Path) -> None:
    lock = PairLock(PAIR, directory=tmp_path, command="entra-standby drill --pair contoso-prod")
    holder = lock.acquire()
    data = json.loads(lock.path.read_text(encoding="utf-8"))
    assert {"pair", "user", "hostname", "pid", "started_utc", "command"} <= set(data)
    assert (data["pair"], data["pid"], data["hostname"]) == (PAIR, os.getpid(), socket.gethostname())
    assert data["command"] == "entra-standby drill --pair contoso-prod"
    assert data["started_utc"].endswith("Z")
    assert read_lock(PAIR, tmp_path) == holder
    assert oct(lock.path.stat().st_mode & 0o777) == oct(0o600)
    assert lock.release() is True
    assert not lock.path.exists() and read_lock(PAIR, tmp_path) is None


def test_a_held_lock_refuses_with_the_holder_named(tmp_path: Path) -> None:
    first = PairLock(PAIR, directory=tmp_path, command="entra-standby drill --pair contoso-prod")
    first.acquire()
    with pytest.raises(DrillError) as info:
        PairLock(PAIR, directory=tmp_path).acquire()
    line = str(info.value)
    assert f"pid {os.getpid()}" in line and f"@{socket.gethostname()}" in line
    assert "`entra-standby drill --pair contoso-prod`" in line and "since " in line
    assert "still running" in line and "(fix: " in line and "\n" not in line
    first.release()
    with PairLock(PAIR, directory=tmp_path) as again:  # free again
        assert again.held


def test_two_processes_contend_and_the_loser_names_the_winner(tmp_path: Path, holders: list[Holder]) -> None:
    holder = Holder(tmp_path)
    holders.append(holder)
    holder.send()
    assert holder.line() == "won"
    with pytest.raises(DrillError) as info:
        PairLock(PAIR, directory=tmp_path).acquire()
    assert f"pid {holder.proc.pid}" in str(info.value)
    assert "still running on this host" in str(info.value)
    assert holder.finish() == 0  # it releases and exits
    assert not lock_path(PAIR, tmp_path).exists()
    with PairLock(PAIR, directory=tmp_path):
        pass


def test_simultaneous_attempts_exactly_one_wins(tmp_path: Path, holders: list[Holder]) -> None:
    racers = [Holder(tmp_path) for _ in range(4)]
    holders.extend(racers)
    for racer in racers:  # every one is ready: now release them together
        racer.send()
    results = [racer.line() for racer in racers]
    winners = [racer for racer, result in zip(racers, results, strict=True) if result == "won"]
    assert len(winners) == 1, results
    for result in results:
        if result != "won":
            assert result.startswith("lost ") and f"pid {winners[0].proc.pid}" in result, result
    for racer in racers:
        assert racer.finish() == 0


def test_a_crashed_holder_leaves_the_lock_and_the_message_says_audit_first(
        tmp_path: Path, holders: list[Holder]) -> None:
    holder = Holder(tmp_path)
    holders.append(holder)
    holder.send()
    assert holder.line() == "won"
    pid = holder.proc.pid
    holder.kill()  # SIGKILL mid-run: no chance to release
    with pytest.raises(DrillError) as info:
        PairLock(PAIR, directory=tmp_path).acquire()
    line = str(info.value)
    assert f"pid {pid}" in line
    assert "no longer running (it crashed or was killed)" in line
    assert "the pair may be mid-switch" in line
    assert "audit it before removing the lock with `entra-standby unlock --pair contoso-prod`" in line
    still = read_lock(PAIR, tmp_path)  # kept on purpose
    assert still is not None and still.pid == pid
    removed = remove_lock(PAIR, tmp_path)  # what `entra-standby unlock` does after the audit
    assert removed is not None and removed.pid == pid
    with PairLock(PAIR, directory=tmp_path):
        pass


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="PID reuse is detected from /proc")
def test_a_reused_pid_is_not_mistaken_for_the_holder(tmp_path: Path) -> None:
    lock = PairLock(PAIR, directory=tmp_path)
    lock.acquire()
    data = json.loads(lock.path.read_text(encoding="utf-8"))
    data["process_start"] -= 1  # same PID (ours, alive), different process
    lock.path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DrillError, match="no longer running"):
        PairLock(PAIR, directory=tmp_path).acquire()


def test_a_holder_on_another_host_is_not_judged(tmp_path: Path) -> None:
    path = lock_path(PAIR, tmp_path)
    path.write_text(json.dumps({"pair": PAIR, "user": "bob", "hostname": "adm02.contoso.com", "pid": 1,
                                "started_utc": "2026-11-25T18:00:00Z", "command": "entra-standby drill"}),
                    encoding="utf-8")
    with pytest.raises(DrillError) as info:
        PairLock(PAIR, directory=tmp_path).acquire()
    assert "bob@adm02.contoso.com pid 1" in str(info.value) and "another host" in str(info.value)


def test_an_unreadable_lock_file_is_reported_not_overwritten(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lock_module, "_READ_RETRIES", 0)
    path = lock_path(PAIR, tmp_path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(DrillError, match=r"is empty.*entra-standby unlock --pair contoso-prod"):
        PairLock(PAIR, directory=tmp_path).acquire()
    assert path.exists()
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(DrillError, match="is not a lock this tool wrote"):
        PairLock(PAIR, directory=tmp_path).acquire()
    assert remove_lock(PAIR, tmp_path) is None and not path.exists()


def test_release_leaves_a_lock_that_is_no_longer_ours(tmp_path: Path) -> None:
    lock = PairLock(PAIR, directory=tmp_path)
    lock.acquire()
    remove_lock(PAIR, tmp_path)  # someone unlocked it ...
    other = PairLock(PAIR, directory=tmp_path)
    other.acquire()  # ... and another run took it
    assert lock.release() is False
    assert read_lock(PAIR, tmp_path) == other.holder
    assert other.release() is True


def test_context_manager_keeps_the_lock_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), PairLock(PAIR, directory=tmp_path):
        raise RuntimeError("half-way through a switch")
    assert read_lock(PAIR, tmp_path) is not None  # the pair may be mid-switch: keep it
    remove_lock(PAIR, tmp_path)
    with pytest.raises(RuntimeError), PairLock(PAIR, directory=tmp_path, release_on_error=True):
        raise RuntimeError("refused before any change")
    assert read_lock(PAIR, tmp_path) is None


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b", "a%2Fb", ".hidden", "..", "nul\x00byte",
                                  "con tos o:prod*?", "x" * 400])
def test_any_pair_name_is_one_safe_file_in_the_lock_directory(tmp_path: Path, name: str) -> None:
    path = lock_path(name, tmp_path)
    assert path.parent == tmp_path and not path.name.startswith(".")
    assert len(path.name.encode()) < 255 and "/" not in path.name and "\x00" not in path.name
    with PairLock(name, directory=tmp_path) as held:
        assert held.path.exists() and list(tmp_path.iterdir()) == [held.path]


def test_distinct_names_get_distinct_lock_files(tmp_path: Path) -> None:
    names = ["a/b", "a%2Fb", "a_b", "A/b", "x" * 400, "x" * 399 + "y"]
    assert len({lock_path(n, tmp_path) for n in names}) == len(names)


def test_default_directory_follows_xdg_state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_lock_dir() == tmp_path / "state" / "entra-standby" / "locks"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_lock_dir() == tmp_path / "home" / ".local" / "state" / "entra-standby" / "locks"
    with PairLock(PAIR) as held:  # the directory is created on first use
        assert held.path.parent == default_lock_dir() and held.path.exists()

