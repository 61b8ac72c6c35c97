"""The lab's wire: a WS-Management + PSRP endpoint (HTTP/HTTPS, Basic/NTLM) that unmodified pypsrp uses.

``WSManServer`` is the façade; the modules each do one job: ``http`` (listeners, connections),
``auth`` (Basic, Negotiate via pyspnego, channel binding, the process-wide NTLM user file), ``crypto``
(WinRM message encryption), ``soap`` (envelopes and faults), ``dispatch`` (WS-Man actions), ``shells``
(runspace pools, pipelines, per-target queues, long-poll), ``psvalues`` (PowerShell <-> Python values),
``faults`` (fault injection) and ``counters``.
"""

from entra_standby.lab.wire.auth import LabCredentials
from entra_standby.lab.wire.counters import RequestCounters
from entra_standby.lab.wire.faults import ACTIONS, TransportFaults
from entra_standby.lab.wire.server import WSManServer

__all__ = ["ACTIONS", "LabCredentials", "RequestCounters", "TransportFaults", "WSManServer"]
