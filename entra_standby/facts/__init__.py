"""Typed facts per domain, and their parsers from probe JSON. Data only: no I/O, no remoting."""

from .collection import FactError, HostFacts, PairFacts
from .model import FACT_TYPES, HOST_DOMAINS
from .password_sync import PasswordSyncFacts, parse_password_sync_output

__all__ = ["FACT_TYPES", "HOST_DOMAINS", "FactError", "HostFacts", "PairFacts", "PasswordSyncFacts",
           "parse_password_sync_output"]
