"""The lab's identity platform + Microsoft Graph stand-in (HTTPS on loopback, lab CA)."""

from __future__ import annotations

from .faults import FAULT_KINDS, PATH_CLASSES, CloudCounters, CloudFault, CloudFaults, RequestRecord
from .server import CloudStandIn

__all__ = ["FAULT_KINDS", "PATH_CLASSES", "CloudCounters", "CloudFault", "CloudFaults", "CloudStandIn",
           "RequestRecord"]
