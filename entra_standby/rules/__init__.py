"""Check logic: pure functions from facts to findings, and the registry of check ids."""

from __future__ import annotations

import importlib
import pkgutil

from .base import REGISTRY, CheckSpec, Finding, Severity, check, evaluate, target_of

# Every module of this package except these registers checks when imported (one module, a few related checks).
_NOT_CHECKS = frozenset({"base", "thresholds", "versions", "guids"})

_loaded = False


def load_all() -> dict[str, CheckSpec]:
    """Import every check module of this package once; return the registry."""
    global _loaded
    if not _loaded:
        for module in pkgutil.iter_modules(__path__):
            if module.name not in _NOT_CHECKS and not module.name.startswith("_"):
                importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True
    return REGISTRY


__all__ = ["REGISTRY", "CheckSpec", "Finding", "Severity", "check", "evaluate", "load_all", "target_of"]
