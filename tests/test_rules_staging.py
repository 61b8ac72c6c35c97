"""staging-flag: split brain, nothing exporting, a flag against its role, and the swap a switch leaves."""

from __future__ import annotations

from factbuilders import change, healthy_pair, run


def test_healthy_pair_passes() -> None:
    assert run("staging-flag", healthy_pair()) == []


def test_split_brain_is_named() -> None:
    pair = change(healthy_pair(), "aadc02", "scheduler", staging_mode_enabled=False)
    messages = [f.message for f in run("staging-flag", pair)]
    assert any("split brain" in m for m in messages), messages


def test_roles_swapped_after_a_switch_is_named_as_such() -> None:
    pair = change(healthy_pair(), "aadc01", "scheduler", staging_mode_enabled=True)
    pair = change(pair, "aadc02", "scheduler", staging_mode_enabled=False)
    findings = run("staging-flag", pair)
    assert len(findings) == 1, [f.message for f in findings]
    message = findings[0].message
    assert message.startswith("roles swapped:"), message
    assert "update the inventory" in message and "role active" in message


def test_standby_unstaged_alone_is_not_a_swap() -> None:
    pair = change(healthy_pair(), "aadc01", "scheduler", staging_mode_enabled=True)
    messages = [f.message for f in run("staging-flag", healthy_pair())] + \
        [f.message for f in run("staging-flag", pair)]
    assert not any("roles swapped" in m for m in messages)
    assert any("nothing exports" in m for m in messages)
