"""The lab: a simulated Entra Connect HA pair speaking real WS-Management + PSRP on loopback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .lab import Lab

__all__ = ["Lab"]


def __getattr__(name: str) -> Any:
    # Lazy: importing entra_standby.lab (e.g. for the engine seam) must not pull in the wire or the cloud.
    if name == "Lab":
        from .lab import Lab

        return Lab
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
