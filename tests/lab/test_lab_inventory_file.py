"""The inventory a lab writes holds its password: owner-only, whatever was left at the temporary path."""

from __future__ import annotations

import stat
from pathlib import Path

from entra_standby.lab import Lab

SCENARIO = Path(__file__).parents[2] / "fixtures" / "scenarios" / "healthy-pair.yml"


def test_a_stale_world_readable_partial_never_receives_the_password(tmp_path: Path) -> None:
    target = tmp_path / "inv.yml"
    stale = tmp_path / ".inv.yml.partial"
    stale.write_text("left by a crashed run\n")
    stale.chmod(0o644)
    with Lab(SCENARIO) as lab:
        written = lab.write_inventory(target)
        assert lab.credentials is not None
        password = lab.credentials.password
    assert written == target and not stale.exists()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert password in target.read_text()


def test_a_link_planted_at_the_partial_path_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("untouched\n")
    (tmp_path / ".inv.yml.partial").symlink_to(elsewhere)
    with Lab(SCENARIO) as lab:
        lab.write_inventory(tmp_path / "inv.yml")
    assert elsewhere.read_text() == "untouched\n"
    assert stat.S_IMODE((tmp_path / "inv.yml").stat().st_mode) == 0o600
