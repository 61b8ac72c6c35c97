"""A second, independent PSRP client: psrpcore's client side, carried over pypsrp's plain WinRS transport.

psrpcore builds and parses every PSRP message itself (its own CLIXML serialiser, not pypsrp's), so what the
lab answers here is checked against a second implementation of MS-PSRP. Only WS-Man (HTTP, auth, SOAP) is
pypsrp's: ``WinRS`` sends Create/Command/Send/Receive/Delete with the PSRP bytes psrpcore produced.
"""

from __future__ import annotations

import base64
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from psrpcore import (
    ClientGetCommandMetadata,
    ClientPowerShell,
    ClientRunspacePool,
    ErrorRecordEvent,
    PipelineOutputEvent,
    PipelineStateEvent,
    PSRPPayload,
    StreamType,
)
from psrpcore.types import PSInvocationState, RunspacePoolState
from pypsrp.shell import WinRS
from pypsrp.wsman import OptionSet, WSMan

RESOURCE_URI = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"


@dataclass
class Answer:
    state: PSInvocationState
    output: list[Any] = field(default_factory=list)
    error_ids: list[str] = field(default_factory=list)


class PsrpcoreSession:
    """One runspace pool opened and driven by psrpcore."""

    def __init__(self, wsman: WSMan) -> None:
        self.pool = ClientRunspacePool()
        self.shell = WinRS(wsman, resource_uri=RESOURCE_URI, id=str(self.pool.runspace_pool_id).upper(),
                           input_streams="stdin pr", output_streams="stdout")

    def __enter__(self) -> PsrpcoreSession:
        self.pool.open()
        creation = ET.Element("creationXml", xmlns="http://schemas.microsoft.com/powershell")
        creation.text = base64.b64encode(self._outgoing()).decode()
        options = OptionSet()
        options.add_option("protocolversion", "2.3", {"MustComply": "true"})
        self.shell.open(options, creation)
        while self.pool.state != RunspacePoolState.Opened:
            self._feed(None)
        return self

    def __exit__(self, *exc: object) -> None:
        self.shell.close()

    def _outgoing(self) -> bytes:
        data = b""
        while (payload := self.pool.data_to_send()) is not None:
            data += bytes(payload.data)
        return data

    def _feed(self, pipeline_id: uuid.UUID | None) -> list[Any]:
        command_id = str(pipeline_id).upper() if pipeline_id else None
        _, _, buffers = self.shell.receive("stdout", command_id=command_id)
        self.pool.receive_data(PSRPPayload(buffers["stdout"], StreamType.default, pipeline_id))
        events = []
        while (event := self.pool.next_event()) is not None:
            events.append(event)
        return events

    def _run(self, pipeline: ClientPowerShell | ClientGetCommandMetadata) -> Answer:
        pipeline.start()
        first = base64.b64encode(self._outgoing()).decode()
        self.shell.command("", [first], command_id=str(pipeline.pipeline_id).upper())
        answer = Answer(state=PSInvocationState.Running)
        while answer.state == PSInvocationState.Running:
            for event in self._feed(pipeline.pipeline_id):
                if isinstance(event, PipelineOutputEvent):
                    answer.output.append(event.data)
                elif isinstance(event, ErrorRecordEvent):
                    answer.error_ids.append(str(event.record.FullyQualifiedErrorId))
                elif isinstance(event, PipelineStateEvent):
                    answer.state = event.state
                    if event.reason is not None:
                        answer.error_ids.append(str(event.reason.FullyQualifiedErrorId))
        return answer

    def script(self, text: str) -> Answer:
        ps = ClientPowerShell(self.pool)
        ps.add_script(text)
        return self._run(ps)

    def command_metadata(self, name: str) -> Answer:
        return self._run(ClientGetCommandMetadata(self.pool, name))
