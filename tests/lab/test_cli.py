"""``entra-standby lab serve`` in a subprocess, used by a plain pypsrp client reading only the inventory."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PLAIN_CLIENT = Path(__file__).with_name("plain_client.py")


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("entra-standby")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "entra_standby.cli"]


def test_lab_serve_answers_a_plain_pypsrp_client(tmp_path: Path) -> None:
    inventory = tmp_path / "lab-inv.yml"
    server = subprocess.Popen(
        [*_cli(), "lab", "serve", "fixtures/scenarios/healthy-pair.yml", "--write-inventory", str(inventory)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not inventory.exists():
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "the lab did not write its inventory in 30 s"
            time.sleep(0.1)
        client = subprocess.run(
            [sys.executable, str(PLAIN_CLIENT), str(inventory), str(REPO / "entra_standby/probes")],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert client.returncode == 0, client.stdout + client.stderr
        lines = [json.loads(line) for line in client.stdout.splitlines()]
        shipped = {p.stem for p in (REPO / "entra_standby/probes").glob("*.ps1")}
        assert [line["role"] for line in lines] == ["active", "standby"]
        for line in lines:
            assert set(line["answers"]) == shipped
            assert all(a["json"] and a["ok"] and a["probe"] == name for name, a in line["answers"].items())
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=20)
    assert server.returncode == 0, err
    pair = yaml.safe_load(inventory.read_text())["pairs"][0]
    password = pair["connection"]["password"]
    assert password and password not in out and password not in err
    # The pair's embedded directory: named with its reader, its password only in the inventory file.
    directory = pair["directory"]
    assert directory["password"] and directory["password"] not in out + err
    assert f"directory: embedded ldap://127.0.0.10:{directory['port']}  contoso.com  reader " in out
    assert "directory LDAP requests: 0 (none)" in out
    # this interpreter's pytest (a bare `pytest` may be another installation's, without the plugin)
    suffix = f" -m pytest --inventory {shlex.quote(str(inventory))}"
    shown = next(line.split(suffix)[0].split()[-1] for line in out.splitlines() if suffix in line)
    # the interpreter running `lab serve` (the console script's shebang): python or python3 of this venv
    assert Path(shlex.split(shown)[0]).resolve() == Path(sys.executable).resolve()
    assert "127.0.0.11" in out and "127.0.0.12" in out and "LAB\\auditor" in out
    assert "stopping the lab; HTTP requests served:" in out
    served = [line.split() for line in out.splitlines() if line.strip().startswith(("aadc01 ", "aadc02 "))]
    assert len(served) >= 2 and all(int(row[1]) > 0 and "Create" in " ".join(row) for row in served[-2:])


def test_bad_scenario_is_one_line_and_exit_2(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yml"
    scenario.write_text("servers:\n  aadc02:\n    stagin: true\n", encoding="utf-8")
    result = subprocess.run(
        [*_cli(), "lab", "serve", str(scenario), "--write-inventory", str(tmp_path / "i.yml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "servers.aadc02.stagin" in result.stderr and "did you mean 'staging'" in result.stderr
    assert str(scenario) in result.stderr
    assert not (tmp_path / "i.yml").exists()


def test_usage_errors_exit_2() -> None:
    result = subprocess.run([*_cli(), "lab"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "serve" in result.stderr
    result = subprocess.run([*_cli(), "lab", "serve", "x.yml", "--write-inventory", "i.yml", "--directory",
                             "ldap"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "invalid choice: 'ldap' (choose from 'embedded', 'samba', 'none')" in result.stderr
