"""Dotted version numbers (Entra Connect builds, ADSyncTools), compared numerically.

Entra Connect reports four parts (``2.5.79.0``); ADSyncTools three (``2.4.0``). Missing trailing parts
compare as zero, so ``2.5.79`` == ``2.5.79.0``. String comparison would put ``2.10`` before ``2.9``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

_VERSION = re.compile(r"^\s*v?(\d+(?:\.\d+){0,3})")


@total_ordering
@dataclass(frozen=True)
class Version:
    parts: tuple[int, ...]
    text: str

    @property
    def major(self) -> int:
        return self.parts[0]

    def _key(self) -> tuple[int, ...]:
        return self.parts + (0,) * (4 - len(self.parts))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __str__(self) -> str:
        return self.text


def parse_version(text: str | None) -> Version | None:
    """``"2.5.79.0"`` -> Version; a leading ``v`` and trailing text (``2.4.0-preview``) are ignored.

    None if the text holds no version.
    """
    if text is None:
        return None
    match = _VERSION.match(text)
    if match is None:
        return None
    dotted = match.group(1)
    return Version(tuple(int(p) for p in dotted.split(".")), dotted)


def require_version(text: str) -> Version:
    """Parse a version the program itself supplies (a threshold); ValueError if it is not one."""
    version = parse_version(text)
    if version is None:
        raise ValueError(f"not a dotted version number: {text!r}")
    return version
