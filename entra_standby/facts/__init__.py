"""Typed facts per domain, and their parsers from probe JSON. Data only: no I/O, no remoting."""

from .collection import FactError, HostFacts, PairFacts
from .model import FACT_TYPES, HOST_DOMAINS

__all__ = ["FACT_TYPES", "HOST_DOMAINS", "FactError", "HostFacts", "PairFacts"]
