"""`entra-standby unlock --pair NAME`: removes a dead run's lock, refuses a live one without --force, removes
an unreadable lock file, and lists the locked pairs when the name matches none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from entra_standby.cli import main
from entra_standby.drill.lock import PairLock, lock_path, read_lock

PAIR = "contoso-prod"


def _unlock(locks: Path, pair: str = PAIR, *extra: str) -> int:
    return main(["unlock", "--pair", pair, "--lock-dir", str(locks), *extra])


def _ended_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    return int(done.stdout)


def _as_if_held_by(locks: Path, pair: str, **fields: object) -> None:
    path = lock_path(pair, locks)
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(fields)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_a_crashed_runs_lock_is_removed_naming_its_holder(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    PairLock(PAIR, directory=tmp_path, command="entra-standby switch --pair contoso-prod").acquire()
    _as_if_held_by(tmp_path, PAIR, pid=_ended_pid(), process_start=None)  # its process has ended
    assert _unlock(tmp_path) == 0
    out = capsys.readouterr().out
    assert f"removed the drill lock of pair '{PAIR}'" in out and "entra-standby switch" in out
    assert "cannot tell" not in out  # this host knows the run is gone
    assert read_lock(PAIR, tmp_path) is None


def test_a_live_holder_on_this_host_is_refused_unless_forced(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    PairLock(PAIR, directory=tmp_path, command="pytest --drill (contoso-prod)").acquire()  # this process
    assert _unlock(tmp_path) == 1
    err = capsys.readouterr().err
    assert "still running on this host" in err and f"pid {os.getpid()}" in err
    assert "pytest --drill (contoso-prod)" in err  # who holds it
    assert "both servers un-staged" in err and "--force" in err  # why removing it is dangerous, and how
    assert "\n" not in err.rstrip("\n")
    assert read_lock(PAIR, tmp_path) is not None

    assert _unlock(tmp_path, PAIR, "--force") == 0
    out = capsys.readouterr().out
    assert out.startswith("WARNING: removed the drill lock") and "still runs" in out
    assert not lock_path(PAIR, tmp_path).exists()


def test_a_holder_on_another_host_is_removed_with_a_caveat(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    PairLock(PAIR, directory=tmp_path).acquire()
    _as_if_held_by(tmp_path, PAIR, hostname="aadm02.invalid")
    assert _unlock(tmp_path) == 0
    assert "taken on aadm02.invalid, where this host cannot tell" in capsys.readouterr().out
    assert not lock_path(PAIR, tmp_path).exists()


@pytest.mark.parametrize("content", ["", "{not json", json.dumps({"pair": PAIR})])
def test_an_unreadable_lock_file_is_removed_with_a_clear_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        content: str) -> None:
    monkeypatch.setattr("entra_standby.drill.lock._READ_RETRIES", 0)  # no wait for a writer that never comes
    path = lock_path(PAIR, tmp_path)
    tmp_path.mkdir(exist_ok=True)
    path.write_text(content, encoding="utf-8")
    assert _unlock(tmp_path) == 0
    out = capsys.readouterr().out
    assert f"removed the unreadable drill lock of pair '{PAIR}'" in out
    assert str(path) in out and ("is empty" in out if not content else "is not a lock this tool wrote" in out)
    assert "audit the pair" in out
    assert not path.exists()


def test_an_unknown_pair_lists_the_locked_pairs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("entra_standby.drill.lock._READ_RETRIES", 0)
    assert _unlock(tmp_path / "none-yet") == 1  # the directory does not even exist
    assert "no pair is locked there" in capsys.readouterr().err

    PairLock(PAIR, directory=tmp_path, command="run one").acquire()
    PairLock("fabrikam/eu west", directory=tmp_path, command="run two").acquire()
    lock_path("broken", tmp_path).write_text("", encoding="utf-8")
    assert _unlock(tmp_path, "contoso-prd") == 1
    err = capsys.readouterr().err
    assert f"pair 'contoso-prd' is not locked (no contoso-prd.lock in {tmp_path})" in err
    assert f"{PAIR} (" in err and "run one" in err
    assert "fabrikam/eu west (" in err and "run two" in err  # the pair's name, not its encoded file name
    assert "broken.lock (unreadable lock file)" in err
    assert read_lock(PAIR, tmp_path) is not None  # nothing else was touched
