"""Issue 12: hostile waiver files (``--waivers FILE``), the waiver half of "bad inventories and waivers".

Each case goes through the same two steps as a run (``load_waiver_file`` with the strict YAML loader, then
``parse_waivers`` against the real check catalogue) and must be refused with ONE line that starts with the
file, names the entry or line, stays short (nothing hostile pasted back), without a traceback, quickly.
A few cases also go through pytest's front door: exit 4 (usage error) before anything connects.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from spine_helpers import run_checks

from entra_standby.rules import load_all
from entra_standby.waivers import WaiverError, load_waiver_file, parse_waivers

CHECKS = {cid: spec.scope for cid, spec in load_all().items()}
LAYOUT = {"contoso-prod": ["aadc01", "127.0.0.11", "aadc02", "127.0.0.12"]}
OK = "check: adsynctools, justification: CHG-1 install next window, expires: 2027-01-31"


def _one(fields: str) -> str:
    return "- {" + fields + "}\n"


def _bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\nwaivers: *a8\n"


# (id, file content (str: UTF-8 text, bytes: as is), fragments the one line must contain)
WAIVERS: list[tuple[str, str | bytes, tuple[str, ...]]] = [
    # duplicate keys: YAML would keep the last one silently
    ("dup-check", _one(f"{OK}, check: dotnet"), ("duplicate key 'check'", "line 1")),
    ("dup-expires-block",
     "- check: adsynctools\n  justification: x\n  expires: 2027-01-31\n  expires: 2099-01-31\n",
     ("duplicate key 'expires'", "line 4", "first at line 3")),
    ("dup-waivers", "waivers: []\nwaivers:\n  - {" + OK + "}\n", ("duplicate key 'waivers'",)),
    ("dup-run", _one(f"{OK}, run: true, run: false"), ("duplicate key 'run'",)),
    # structure: aliases, depth, size
    ("alias-bomb", _bomb(), ("alias bomb",)),
    ("alias-cycle", "x: &x [*x]\n", ("cycle",)),
    ("deep-flow", "[" * 20000 + "]" * 20000, ("nested more than 64 levels",)),
    ("deep-block", "".join("  " * i + "k:\n" for i in range(100)), ("nested more than 64 levels",)),
    ("undefined-alias", _one("check: *nothing, justification: x, expires: 2027-01-31"), ("not valid YAML",)),
    ("bad-yaml", "- {check: adsynctools\n", ("not valid YAML",)),
    ("python-tag", _one("check: !!python/name:os.system, justification: x, expires: 2027-01-31"),
     ("not valid YAML",)),
    # encodings
    ("utf16", _one(OK).encode("utf-16"), ("UTF-16", "save it as UTF-8")),
    ("utf32", _one(OK).encode("utf-32"), ("UTF-32",)),
    ("latin1", _one(OK.replace("CHG-1", "caf\u00e9")).encode("latin-1"), ("not valid UTF-8", "line 1")),
    ("nul", _one(OK.replace("CHG-1", "a\x00b")), ("NUL",)),
    ("binary", bytes(range(256)) * 4, ("UTF-8",)),
    # dates
    ("expires-not-a-day", _one("check: adsynctools, justification: x, expires: 2026-02-30"),
     ("line 1", "day is out of range")),
    ("expires-month-13", _one("check: adsynctools, justification: x, expires: 2026-13-01"),
     ("month must be in 1..12",)),
    ("expires-words", _one("check: adsynctools, justification: x, expires: next week"),
     ("[0].expires", "expected a date")),
    ("expires-year-zero", _one("check: adsynctools, justification: x, expires: '0000-01-01'"),
     ("[0].expires", "expected a date")),
    ("expires-number", _one("check: adsynctools, justification: x, expires: 20270131"),
     ("[0].expires", "expected a date")),
    ("expires-time-text", _one("check: adsynctools, justification: x, expires: '2027-01-31T10:00'"),
     ("[0].expires", "expected a date")),
    ("expires-huge-int", _one("check: adsynctools, justification: x, expires: 0x" + "f" * 5000),
     ("[0].expires", "thousands of digits")),
    ("expires-5000-digits", _one("check: adsynctools, justification: x, expires: " + "9" * 5000),
     ("line 1", "cannot be read as int")),
    ("expires-huge-list", _one("check: adsynctools, justification: x, expires: [" + "x, " * 20000 + "x]"),
     ("[0].expires", "...")),
    ("expires-null", _one("check: adsynctools, justification: x, expires: ~"),
     ("[0].expires", "missing required key")),
    ("expires-before-granted", _one(f"{OK}, granted: 2027-02-01"), ("already expired when written",)),
    ("granted-words", _one(f"{OK}, granted: yesterday"), ("[0].granted", "expected a date")),
    # check ids
    ("unknown-check", _one("check: version_parity, justification: x, expires: 2027-01-31"),
     ("unknown check id 'version_parity'", "did you mean 'version-parity'")),
    ("check-missing", _one("justification: x, expires: 2027-01-31"), ("[0].check", "missing required key")),
    ("check-list", _one("check: [adsynctools], justification: x, expires: 2027-01-31"),
     ("[0].check", "unknown check id")),
    ("check-number", _one("check: 12, justification: x, expires: 2027-01-31"), ("unknown check id '12'",)),
    ("check-huge", _one("check: " + "x" * 100_000 + ", justification: x, expires: 2027-01-31"),
     ("[0].check", "...")),
    ("check-bad-tag", _one("check: !!int abc, justification: x, expires: 2027-01-31"),
     ("line 1", "cannot be read as int")),
    # wrong types and scopes
    ("justification-missing", _one("check: adsynctools, expires: 2027-01-31"), ("[0].justification",)),
    ("justification-spaces", _one("check: adsynctools, justification: '   ', expires: 2027-01-31"),
     ("[0].justification",)),
    ("justification-list", _one("check: adsynctools, justification: [a], expires: 2027-01-31"),
     ("non-empty justification",)),
    ("run-word", _one(f"{OK}, run: no-way"), ("[0].run", "expected true or false")),
    ("run-number", _one(f"{OK}, run: 1"), ("[0].run", "expected true or false")),
    ("run-huge-int", _one(f"{OK}, run: 0x" + "f" * 5000), ("[0].run", "thousands of digits")),
    ("pair-unknown", _one(f"{OK}, pair: contoso-prd"), ("no pair named 'contoso-prd'", "did you mean")),
    ("pair-number", _one(f"{OK}, pair: 5"), ("[0].pair", "non-empty string")),
    ("pair-huge", _one(f"{OK}, pair: " + "p" * 100_000), ("[0].pair", "...")),
    ("host-unknown", _one(f"{OK}, host: aadc03"), ("no server 'aadc03'",)),
    ("host-list", _one(f"{OK}, host: []"), ("[0].host", "non-empty string")),
    ("host-on-pair-check", _one("check: staging-flag, host: aadc02, justification: x, expires: 2027-01-31"),
     ("evaluated per pair",)),
    ("unknown-key", _one(f"{OK}, owner: me"), ("[0].owner", "unknown key 'owner'")),
    ("non-text-key", _one(f"{OK}, 1: x"), ("key 1 is not text",)),
    ("bool-key", _one(f"{OK}, yes: x"), ("key yes is not text",)),
    # the top level
    ("top-text", "hello\n", ("expected a list of waivers",)),
    ("top-mapping", "check: adsynctools\n", ("expected a list of waivers",)),
    ("waivers-mapping", "waivers: {check: adsynctools}\n", ("expected a list of waivers",)),
    ("waivers-plus-other-key", "waivers: []\nextra: 1\n", ("expected a list of waivers",)),
    ("set-tag", "!!set {a, b}\n", ("expected a list of waivers",)),
    ("entry-null", "- ~\n", ("[0]", "expected a mapping")),
    ("entry-text", "- adsynctools\n", ("[0]", "expected a mapping")),
    ("second-entry-bad", _one(OK) + _one("check: adsynctools, justification: x, expires: someday"),
     ("[1].expires",)),
]


def _write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "waivers.yml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _load(path: Path) -> None:
    parse_waivers(load_waiver_file(str(path)), label=str(path), key="", checks=CHECKS, layout=LAYOUT)


def _assert_one_line(message: str, path: Path, fragments: tuple[str, ...]) -> None:
    assert "\n" not in message and "Traceback" not in message, message
    assert message.startswith(str(path)), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert len(message) < 400, message  # nothing hostile pasted back


def test_waiver_matrix_size() -> None:
    print(f"hostile waiver files: {len(WAIVERS) + len(SPECIAL_FILES)}")
    assert len(WAIVERS) + len(SPECIAL_FILES) >= 50


def test_a_good_waiver_file_still_loads(tmp_path: Path) -> None:
    first = "{" + OK + ", pair: contoso-prod, host: aadc02, granted: 2026-12-01}"
    path = _write(tmp_path, f"waivers:\n  - {first}"
                            "\n  - {check: dotnet, justification: y, expires: 2027-01-31T23:30:00-05:00}\n")
    raw = load_waiver_file(str(path))
    waivers = parse_waivers(raw, label=str(path), key="", checks=CHECKS, layout=LAYOUT)
    assert [w.check for w in waivers] == ["adsynctools", "dotnet"] and waivers[0].host == "aadc02"
    assert str(waivers[1].expires) == "2027-02-01"  # an unquoted timestamp counts by its UTC day


@pytest.mark.parametrize(("content", "fragments"), [pytest.param(c, f, id=i) for i, c, f in WAIVERS])
def test_hostile_waiver_file_is_one_line(tmp_path: Path, content: str | bytes,
                                         fragments: tuple[str, ...]) -> None:
    path = _write(tmp_path, content)
    t0 = time.monotonic()
    with pytest.raises(WaiverError) as info:
        _load(path)
    assert time.monotonic() - t0 < 10  # cheap: nothing expanded (generous bound for a loaded machine)
    _assert_one_line(str(info.value), path, fragments)


def _special(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.yml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "too-large":
        path.write_bytes(b"# x\n" * (1024 * 1024 + 1))
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    return path


SPECIAL_FILES = [("fifo", "not a regular file"), ("directory", "is a directory"),
                 ("too-large", "more than the"), ("dev-zero", "not a regular file"), ("missing", "not found")]


@pytest.mark.parametrize(("kind", "fragment"), SPECIAL_FILES)
def test_waiver_path_that_is_no_regular_file(tmp_path: Path, kind: str, fragment: str) -> None:
    path = _special(tmp_path, kind)
    t0 = time.monotonic()
    with pytest.raises(WaiverError) as info:
        _load(path)
    assert time.monotonic() - t0 < 10  # a FIFO is never opened, /dev/zero never read
    _assert_one_line(str(info.value), path, (fragment,))


FRONT_DOOR_CASES = ["dup-check", "alias-bomb", "expires-not-a-day", "fifo"]


@pytest.mark.parametrize("case", FRONT_DOOR_CASES)
def test_front_door_exits_4_with_one_line_before_connecting(tmp_path: Path, case: str) -> None:
    if case == "fifo":
        waivers, fragment = _special(tmp_path, "fifo"), "not a regular file"
    else:
        content, fragments = next((c, f) for i, c, f in WAIVERS if i == case)
        waivers, fragment = _write(tmp_path, content), fragments[0]
    inventory = tmp_path / "inv.yml"  # a server nobody listens on: a connection attempt would show
    inventory.write_text("pairs:\n- name: p\n  servers:\n  - {host: 127.0.0.99, role: active}\n"
                         "  - {host: 127.0.0.98, role: standby}\n"
                         "defaults:\n  connection: {username: u, password: pw, port: 1, ssl: false}\n",
                         encoding="utf-8")
    result = run_checks("--inventory", str(inventory), f"--waivers={waivers}", timeout=60)
    assert result.returncode == 4, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(waivers) in lines[0] and fragment in lines[0], lines
    assert "Traceback" not in result.output and "host not audited" not in result.output
