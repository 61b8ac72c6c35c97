"""Probe data shaped as Windows PowerShell 5.1 unrolls collections (the lab option ``ps51_unrolling``).

PowerShell unrolls collections: a function that returns ``@()`` returns ``$null`` and one that returns a
one-element array returns the element itself; so do pipelines and ``if`` expressions assigned to a variable.
A probe that misses one ``@(...)`` therefore writes ``null`` or the bare element where the contract
(docs/contracts.md section 1) has a JSON array. With the option on, a simulated server answers *every* array
of its probe data that way, so a test can prove the harness reads both shapes as the same facts.
"""

from __future__ import annotations

from typing import Any

__all__ = ["unroll_collections"]


def unroll_collections(value: Any) -> Any:
    """``value`` with each empty list made ``None`` and each one-element list made its element, at any depth.

    Lists of two or more stay lists (PowerShell keeps those arrays); dictionaries keep their keys.
    """
    if isinstance(value, dict):
        return {key: unroll_collections(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [unroll_collections(item) for item in value]
        if not items:
            return None
        if len(items) == 1:
            return items[0]
        return items
    return value
