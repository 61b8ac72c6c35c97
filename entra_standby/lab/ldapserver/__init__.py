"""The lab's embedded directory: an LDAP endpoint on loopback serving the pair's ``DirectoryModel``.

``EmbeddedDirectory`` is the default lab directory (pure Python: the README's first command needs nothing but
pip); ``entra_standby.lab.samba_directory.SambaDirectory`` is the real one, with the same small interface.
"""

from __future__ import annotations

from .embedded import EmbeddedDirectory

__all__ = ["EmbeddedDirectory"]
