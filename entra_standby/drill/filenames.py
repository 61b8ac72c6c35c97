"""Pair names as file names: any name the inventory accepts becomes one safe path component."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

__all__ = ["pair_file_stem"]

_MAX_STEM = 120  # well under every file system's 255-byte limit, with room for suffixes


def pair_file_stem(pair: str) -> str:
    """Percent-encode everything but ``A-Z a-z 0-9 . _ - ~``; no leading dot; long names get a hash.

    Distinct names give distinct stems (percent-encoding is reversible; ``%`` itself is encoded).
    """
    stem = quote(pair, safe="")
    if stem.startswith("."):
        stem = "%2E" + stem[1:]  # never ".", ".." or a hidden file
    if len(stem) > _MAX_STEM:
        digest = hashlib.sha256(pair.encode("utf-8")).hexdigest()[:16]
        stem = f"{stem[:_MAX_STEM - 17]}-{digest}"
    return stem or "%empty"  # "%" alone is never produced by quote(), so this collides with no name
