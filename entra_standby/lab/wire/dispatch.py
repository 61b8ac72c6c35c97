"""WS-Man actions: turn a parsed request into a response body (or a fault) using the shell registry."""

from __future__ import annotations

import base64
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from entra_standby.lab.wire.faults import ACTIONS
from entra_standby.lab.wire.shells import Shell, ShellRegistry, decode_b64
from entra_standby.lab.wire.soap import (
    COMMAND_STATE_DONE,
    COMMAND_STATE_RUNNING,
    CONFIG_URI,
    NS,
    Request,
    action_not_supported,
    clark,
    internal_error,
    invalid_request,
    resource_not_found,
    rsp,
    sub,
)

#: PowerShell session configurations are WinRM plugins addressed as ``<prefix><name>``; the lab registers
#: only the default one (pypsrp's ``configuration_name`` default), matched case-insensitively as WinRM does.
POWERSHELL_URI_PREFIX = "http://schemas.microsoft.com/powershell/"
SERVED_CONFIGURATIONS = frozenset({"microsoft.powershell"})

#: The MaxEnvelopeSizekb the lab advertises (WinRM's default is 500; pypsrp raises its own to 512000 bytes).
MAX_ENVELOPE_KB = 500


@dataclass
class CallContext:
    """What the dispatcher needs to know about the HTTP side of one request."""

    endpoint_url: str
    owner: str
    client_ip: str
    abandoned: Callable[[], bool]


@dataclass
class Reply:
    body: list[ET.Element]
    action: str | None = None  # response Action when it is not "<request action>Response"


class Dispatcher:
    def __init__(self, shells: ShellRegistry) -> None:
        self.shells = shells

    def handle(self, request: Request, ctx: CallContext) -> Reply | None:
        """The reply to send, or None if the client abandoned the request (nothing must be sent)."""
        name = request.short_action
        handler = getattr(self, f"_do_{name.lower()}", None) if name in ACTIONS else None
        if handler is None:
            raise action_not_supported(request.action)
        result: Reply | None = handler(request, ctx)
        return result

    @staticmethod
    def _body(request: Request, tag: str) -> ET.Element:
        """The request's ``rsp:<tag>`` body element; anything else is an invalid request."""
        element = request.body
        if element is None or element.tag != f"{{{NS['rsp']}}}{tag}":
            raise invalid_request(f"{request.short_action} needs an rsp:{tag} body")
        return element

    # -- transfer ------------------------------------------------------------------------------------------
    def _do_create(self, request: Request, ctx: CallContext) -> Reply:
        uri = request.resource_uri.rstrip("/")
        if uri.lower().startswith(POWERSHELL_URI_PREFIX) and (
                uri[len(POWERSHELL_URI_PREFIX):].lower() not in SERVED_CONFIGURATIONS):
            raise resource_not_found(request.resource_uri)
        shell_el = self._body(request, "Shell")
        creation = shell_el.find(clark("pwsh:creationXml"))
        if creation is None:
            creation = next((e for e in shell_el.iter() if e.tag.endswith("creationXml")), None)
        if creation is None:
            raise invalid_request("Create needs a creationXml (only PowerShell shells are supported)")
        data = decode_b64(creation.text, "creationXml")
        shell = self.shells.create(shell_el.get("ShellId"), request.resource_uri, ctx.owner, ctx.client_ip,
                                   data)
        shell_id = shell_el.get("ShellId") or str(shell.id).upper()

        created = ET.Element(f"{{{NS['wst']}}}ResourceCreated")
        sub(created, "wsa", "Address", text=ctx.endpoint_url)
        refs = sub(created, "wsa", "ReferenceParameters")
        sub(refs, "wsman", "ResourceURI", text=request.resource_uri)
        selectors = sub(refs, "wsman", "SelectorSet")
        # pypsrp copies this SelectorSet into every later request: without it they carry no ShellId.
        sub(selectors, "wsman", "Selector", {"Name": "ShellId"}, shell_id)
        return Reply([created, self._shell_element(shell, shell_id)])

    def _shell_element(self, shell: Shell, shell_id: str | None = None) -> ET.Element:
        element = rsp("Shell")
        sub(element, "rsp", "ShellId", text=shell_id or str(shell.id).upper())
        sub(element, "rsp", "ResourceUri", text=shell.resource_uri)
        sub(element, "rsp", "Owner", text=shell.owner)
        sub(element, "rsp", "ClientIP", text=shell.client_ip)
        sub(element, "rsp", "IdleTimeOut", text="PT7200.000S")
        sub(element, "rsp", "InputStreams", text="stdin pr")
        sub(element, "rsp", "OutputStreams", text="stdout")
        sub(element, "rsp", "State", text="Connected")
        return element

    def _do_delete(self, request: Request, ctx: CallContext) -> Reply:
        shell = self.shells.get(request.selectors.get("ShellId"))
        self.shells.delete(shell)
        return Reply([])

    def _do_get(self, request: Request, ctx: CallContext) -> Reply:
        if request.resource_uri.rstrip("/") == CONFIG_URI:
            config = ET.Element(f"{{{NS['cfg']}}}Config")
            sub(config, "cfg", "MaxEnvelopeSizekb", text=str(MAX_ENVELOPE_KB))
            sub(config, "cfg", "MaxTimeoutms", text="60000")
            return Reply([config])
        shell = self.shells.get(request.selectors.get("ShellId"))
        return Reply([self._shell_element(shell)])

    def _do_enumerate(self, request: Request, ctx: CallContext) -> Reply:
        response = ET.Element(f"{{{NS['wsen']}}}EnumerateResponse")
        sub(response, "wsen", "EnumerationContext")
        items = sub(response, "wsman", "Items")
        if request.resource_uri.rstrip("/").endswith("/Command"):
            wanted = None
            selector = None
            if request.body is not None:
                selector = request.body.find(".//wsman:Selector[@Name='ShellId']", NS)
            if selector is not None:
                wanted = (selector.text or "").strip()
            for shell in self.shells.list():
                if shell.owner != ctx.owner or (wanted and str(shell.id).upper() != wanted.upper()):
                    continue
                for command_id in list(shell.commands):
                    command = rsp("Command")
                    sub(command, "rsp", "ShellId", text=str(shell.id).upper())
                    sub(command, "rsp", "CommandId", text=str(command_id).upper())
                    items.append(command)
        else:
            for shell in self.shells.list():
                if shell.owner == ctx.owner:
                    items.append(self._shell_element(shell))
        sub(response, "wsman", "EndOfSequence")
        return Reply([response])

    # -- shell -----------------------------------------------------------------------------------------------
    def _do_command(self, request: Request, ctx: CallContext) -> Reply:
        shell = self.shells.get(request.selectors.get("ShellId"))
        line = self._body(request, "CommandLine")
        arguments = line.find(clark("rsp:Arguments"))
        data = decode_b64(arguments.text if arguments is not None else None, "Arguments")
        command = self.shells.command(shell, line.get("CommandId"), data)
        response = rsp("CommandResponse")
        sub(response, "rsp", "CommandId", text=line.get("CommandId") or str(command.id).upper())
        return Reply([response])

    def _do_send(self, request: Request, ctx: CallContext) -> Reply:
        shell = self.shells.get(request.selectors.get("ShellId"))
        send = self._body(request, "Send")
        for stream in send.findall(clark("rsp:Stream")):
            data = decode_b64(stream.text, "Stream")
            if data:
                self.shells.send(shell, stream.get("CommandId"), stream.get("Name", "stdin"), data)
        return Reply([rsp("SendResponse")])

    def _do_signal(self, request: Request, ctx: CallContext) -> Reply:
        shell = self.shells.get(request.selectors.get("ShellId"))
        signal = self._body(request, "Signal")
        code = signal.find(clark("rsp:Code"))
        self.shells.signal(shell, signal.get("CommandId"), (code.text or "") if code is not None else "")
        return Reply([rsp("SignalResponse")])

    def _do_receive(self, request: Request, ctx: CallContext) -> Reply | None:
        shell = self.shells.get(request.selectors.get("ShellId"))
        receive = self._body(request, "Receive")
        desired = receive.find(clark("rsp:DesiredStream"))
        command_id = desired.get("CommandId") if desired is not None else None
        result = self.shells.receive(shell, command_id, request.operation_timeout_s,
                                      request.max_envelope_size, ctx.abandoned)
        if result is None:
            return None
        if result.lost is not None:
            return self._lost(result.lost, ctx)
        response = rsp("ReceiveResponse")
        attrs = {"Name": "stdout"}  # pypsrp only accepts the stream names it asked for
        if command_id:
            attrs["CommandId"] = command_id
        for chunk in result.chunks:
            sub(response, "rsp", "Stream", attrs, base64.b64encode(chunk).decode())
        if command_id:
            state_uri = COMMAND_STATE_DONE if result.done else COMMAND_STATE_RUNNING
            state = sub(response, "rsp", "CommandState", {"CommandId": command_id, "State": state_uri})
            if result.done:
                sub(state, "rsp", "ExitCode", text="0")
        return Reply([response])

    @staticmethod
    def _lost(how: str, ctx: CallContext) -> Reply | None:
        """The Receive that would carry a result the lab's fault injection loses (PipelineResult)."""
        if how == "http500":
            raise internal_error("injected fault: the answer to this pipeline was lost")
        if how == "stall":
            while not ctx.abandoned():  # never answered: the client gives up on its read timeout
                time.sleep(0.1)
        return None  # drop (and the end of a stall): hang up without an answer
