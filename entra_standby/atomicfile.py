"""Write a text file atomically: a temporary file in the same directory, then a rename.

Readers (a CI job publishing a report, a collector scraping a file) see the whole file or none of it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_text_atomically"]


def write_text_atomically(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` whole or not at all; ``OSError`` for the caller to word."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
