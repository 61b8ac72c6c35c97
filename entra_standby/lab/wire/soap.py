"""WS-Management SOAP envelopes: parse requests (defusedxml) and build responses and faults."""

from __future__ import annotations

import functools
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from defusedxml import ElementTree as SafeET

NS: dict[str, str] = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "wsmanfault": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "wsmv": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "cfg": "http://schemas.microsoft.com/wbem/wsman/1/config",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "wsen": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
    "wst": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "xml": "http://www.w3.org/XML/1998/namespace",
    "pwsh": "http://schemas.microsoft.com/powershell",
}
for _prefix, _uri in NS.items():
    if _prefix not in ("xml", "wsmv"):  # wsmv shares wsman's URI; one prefix per URI
        ET.register_namespace(_prefix, _uri)

ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CONFIG_URI = "http://schemas.microsoft.com/wbem/wsman/1/config"
COMMAND_STATE_DONE = f"{SHELL_URI}/CommandState/Done"
COMMAND_STATE_RUNNING = f"{SHELL_URI}/CommandState/Running"

# WSManFault codes (MS-WSMV / winerror.h) the lab answers with.
CODE_TIMED_OUT = 0x80338029  # ERROR_WSMAN_OPERATION_TIMEDOUT; pypsrp's poll_invoke re-polls on it
CODE_SHELL_NOT_FOUND = 0x8033805B  # "the shell was not found on the server"
CODE_INTERNAL = 0x80004005  # E_FAIL
CODE_NOT_IMPLEMENTED = 0x80004001  # E_NOTIMPL: actions the lab does not implement
CODE_QUOTA_SHELLS_PER_USER = 0x803381A5  # 2150859173, as WinRM answers a Create over the user's shell quota
CODE_INVALID = 0x80070057  # E_INVALIDARG: malformed envelope or PSRP payload
CODE_TOO_LARGE = 0x80338034  # request larger than the configured limit
# ERROR_WSMAN_... for a ResourceURI WinRM has no plugin for: what pypsrp users report from real servers for an
# unregistered configuration_name (github.com/jborean93/pypsrp issues 41 and 47: Code 2150858811).
CODE_RESOURCE_NOT_FOUND = 0x8033803B

_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile(rf"^P(?:T)?(?:(?P<h>{_NUMBER})H)?(?:(?P<m>{_NUMBER})M)?(?:(?P<s>{_NUMBER})S)?$")


class WSManFault(Exception):
    """A fault to answer with (HTTP 500, ``s:Fault`` with a ``wsmanfault:WSManFault@Code``)."""

    def __init__(self, subcode: str, code: int, message: str, *, status: int = 500,
                 close_connection: bool = False) -> None:
        super().__init__(message)
        self.subcode = subcode  # e.g. "w:TimedOut", "a:ActionNotSupported"
        self.code = code
        self.message = message
        self.status = status
        self.close_connection = close_connection


def timed_out() -> WSManFault:
    return WSManFault("w:TimedOut", CODE_TIMED_OUT,
                      "The WS-Management service cannot complete the operation within the time specified in "
                      "OperationTimeout.")


def shell_not_found(shell_id: str) -> WSManFault:
    return WSManFault("w:InvalidSelectors", CODE_SHELL_NOT_FOUND,
                      f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the "
                      "shell was not found on the server. Possible causes are: the specified ShellId is "
                      "incorrect or the shell no longer exists on the server. Provide the correct ShellId or "
                      "create a new shell and retry the operation.")


def action_not_supported(action: str) -> WSManFault:
    return WSManFault("a:ActionNotSupported", CODE_NOT_IMPLEMENTED,
                      f"The action {action or '(none)'} is not supported by the lab's WS-Management service.")


def resource_not_found(resource_uri: str) -> WSManFault:
    """An unknown ResourceURI (e.g. an unregistered configuration name), worded as WinRM does."""
    return WSManFault("a:DestinationUnreachable", CODE_RESOURCE_NOT_FOUND,
                      "The WS-Management service cannot process the request. The resource URI "
                      f"({resource_uri}) was not found in the WS-Management catalog. The catalog contains "
                      "the metadata that describes resources, or logical endpoints.")


def not_served(what: str) -> WSManFault:
    """Something a real WinRM/PowerShell server does that the lab does not (docs/scenarios.md lists them)."""
    return WSManFault("w:UnsupportedFeature", CODE_NOT_IMPLEMENTED,
                      f"The lab does not serve {what}; see 'What the lab serves' in docs/scenarios.md.")


def shell_quota_exceeded(limit: int) -> WSManFault:
    """MS-WSMV 3.1.4.5.2.1 (wsman:QuotaLimit); the message and code are what WinRM sends when the
    PowerShell endpoint's MaxShellsPerUser quota is reached (seen in client reports of 2150859173)."""
    return WSManFault("w:QuotaLimit", CODE_QUOTA_SHELLS_PER_USER,
                      f"The WS-Management service cannot process the request. This user is allowed a maximum "
                      f"number of {limit} concurrent shells, which has been exceeded. Close existing shells "
                      "or raise the quota for this user.")


def invalid_request(detail: str) -> WSManFault:
    return WSManFault("w:SchemaValidationError", CODE_INVALID, f"The request is invalid: {detail}")


def internal_error(detail: str) -> WSManFault:
    return WSManFault("w:InternalError", CODE_INTERNAL, f"Internal error: {detail}")


@dataclass
class Request:
    """The parts of a WS-Man request envelope the lab uses."""

    action: str  # full URI
    message_id: str
    resource_uri: str
    operation_timeout_s: float
    max_envelope_size: int
    selectors: dict[str, str] = field(default_factory=dict)
    body: ET.Element | None = None

    @property
    def short_action(self) -> str:
        return self.action.rstrip("/").rsplit("/", 1)[-1]


def parse_duration(text: str | None, default: float) -> float:
    """Seconds of an xs:duration like ``PT20S`` / ``PT1.500S`` (only H/M/S are used by WS-Man)."""
    if not text:
        return default
    match = _DURATION.match(text.strip())
    if not match or not any(match.groupdict().values()):
        return default
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


@functools.lru_cache(maxsize=128)
def clark(path: str) -> str:
    """``path`` (``wsman:SelectorSet/wsman:Selector``) with its prefixes as ``{uri}``: ElementTree then
    matches plain tag steps in C, where a ``namespaces`` mapping sends every lookup through ElementPath (which
    sorts the mapping to build its cache key each time)."""
    return "/".join(f"{{{NS[step.split(':', 1)[0]]}}}{step.split(':', 1)[1]}" if ":" in step else step
                    for step in path.split("/"))


def _text(parent: ET.Element, path: str) -> str | None:
    node = parent.find(clark(path))
    return node.text.strip() if node is not None and node.text else None


_UTF8_BOM = b"\xef\xbb\xbf"
_XML_DECL_ENCODING = re.compile(rb"""^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _without_dtd(data: bytes) -> bool:
    """Whether ``data`` is UTF-8 XML that certainly declares no DTD, so expat cannot expand an entity.

    A SOAP message must not carry a DTD (SOAP 1.2 part 1, 5), and without one there are no entities to
    expand or fetch: nothing defusedxml guards against. In UTF-8 a DTD can only be spelled ``<!DOCTYPE``;
    any other encoding (a UTF-16 BOM, a declared one) is left to defusedxml.
    """
    text = data[len(_UTF8_BOM):] if data.startswith(_UTF8_BOM) else data
    if not text.startswith(b"<") or text[1:2] == b"\x00" or b"<!DOCTYPE" in text:
        return False
    declared = _XML_DECL_ENCODING.match(text) if text.startswith(b"<?xml") else None
    return declared is None or declared.group(1).lower() in (b"utf-8", b"utf8")


def parse_xml(data: bytes) -> ET.Element:
    """``data``'s root element, parsed safely; defusedxml's pure-Python parser only where a DTD may hide.

    defusedxml parses with ElementTree's pure-Python ``XMLParser`` (it must hook expat's DTD handlers), a
    Python call per element: ~0.3 ms for a 1.5 KB WS-Man request and 1.6 ms for the 217 KB Command of an
    audit, the lab's second-largest cost per host (issue 13). A body without a DTD takes the C parser,
    which builds the same tree.
    """
    return ET.fromstring(data) if _without_dtd(data) else SafeET.fromstring(data)


def parse_request(data: bytes) -> Request:
    """Parse a SOAP 1.2 WS-Man request; raises ``WSManFault`` (invalid request) on anything malformed."""
    try:
        root = parse_xml(data)
    except Exception as exc:  # defusedxml raises ParseError or its own DefusedXmlException kinds
        raise invalid_request(f"the body is not well-formed XML ({type(exc).__name__})") from None
    if root.tag != f"{{{NS['s']}}}Envelope":
        raise invalid_request("the root element is not a SOAP 1.2 Envelope")
    header = root.find(clark("s:Header"))
    if header is None:
        raise invalid_request("the envelope has no Header")
    action = _text(header, "wsa:Action")
    message_id = _text(header, "wsa:MessageID")
    if not message_id:
        raise invalid_request("the header has no MessageID")
    try:
        max_size = int(_text(header, "wsman:MaxEnvelopeSize") or "153600")
    except ValueError:
        raise invalid_request("MaxEnvelopeSize is not a number") from None
    selectors = {s.get("Name", ""): (s.text or "").strip()
                 for s in header.findall(clark("wsman:SelectorSet/wsman:Selector"))}
    body = root.find(clark("s:Body"))
    first = next(iter(body), None) if body is not None else None
    return Request(
        action=action or "",
        message_id=message_id,
        resource_uri=_text(header, "wsman:ResourceURI") or "",
        operation_timeout_s=parse_duration(_text(header, "wsman:OperationTimeout"), 60.0),
        max_envelope_size=max(max_size, 8192),
        selectors=selectors,
        body=first,
    )


class _Unusual(Exception):
    """A tree ``tostring`` leaves to ElementTree (a tail, a comment, an unregistered namespace, ...)."""


_CDATA = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
_ATTRIBUTE = (*_CDATA, ('"', "&quot;"), ("\r", "&#13;"), ("\n", "&#10;"), ("\t", "&#09;"))


def _escaped(text: str, table: tuple[tuple[str, str], ...]) -> str:
    for char, entity in table:
        if char in text:  # str.replace scans slowly even when there is nothing to replace
            text = text.replace(char, entity)
    return text


def escape_text(text: str) -> str:
    """Element text escaped as ElementTree escapes it (``&``, ``<``, ``>``)."""
    return _escaped(text, _CDATA)


def tostring(root: ET.Element) -> bytes:
    """``ET.tostring(root, encoding="utf-8")``, byte for byte, for the trees the lab builds.

    ElementTree's serialiser first walks the tree for its namespaces, then writes it through a text
    wrapper, a Python call per element either way: ~0.25 ms for a small WS-Man answer, five answers per
    audited host (issue 13). This writes the same in one walk: registered prefixes (ElementTree's own
    registry, so a registration elsewhere still counts), declarations on the root sorted by prefix,
    attributes in insertion order, ``<tag />`` when empty, ElementTree's escaping. A tree with anything
    else (tails, comments, non-str text, an unregistered namespace) goes to ElementTree."""
    registry: dict[str, str] = ET._namespace_map  # type: ignore[attr-defined]
    used: dict[str, str] = {}
    out: list[str] = []

    def name(qname: object) -> str:
        if not isinstance(qname, str):
            raise _Unusual
        if qname[:1] != "{":
            return qname
        uri, _, local = qname[1:].rpartition("}")
        prefix = used.get(uri) or registry.get(uri)
        if not prefix or not uri:
            raise _Unusual
        if prefix != "xml":
            used[uri] = prefix
        return f"{prefix}:{local}"

    def walk(element: ET.Element) -> None:
        if element.tail:
            raise _Unusual
        tag = name(element.tag)
        out.append("<" + tag)
        for key, value in element.items():
            if not isinstance(value, str):
                raise _Unusual
            out.append(f' {name(key)}="{_escaped(value, _ATTRIBUTE)}"')
        text = element.text
        if text is not None and not isinstance(text, str):
            raise _Unusual
        if text or len(element):
            out.append(">")
            if text:
                out.append(_escaped(text, _CDATA))
            for child in element:
                walk(child)
            out.append(f"</{tag}>")
        else:
            out.append(" />")

    try:
        walk(root)
    except _Unusual:
        return bytes(ET.tostring(root, encoding="utf-8"))
    declarations = "".join(f' xmlns:{prefix}="{_escaped(uri, _ATTRIBUTE)}"'
                           for uri, prefix in sorted(used.items(), key=lambda item: item[1]))
    out[0] += declarations
    return "".join(out).encode("utf-8", "xmlcharrefreplace")


def envelope(request_action: str, relates_to: str, body: ET.Element | list[ET.Element] | None,
             action: str | None = None) -> bytes:
    """A response envelope: Action (request action + ``Response`` unless given), MessageID, RelatesTo."""
    root = ET.Element(f"{{{NS['s']}}}Envelope")
    header = ET.SubElement(root, f"{{{NS['s']}}}Header")
    ET.SubElement(header, f"{{{NS['wsa']}}}Action").text = action or f"{request_action}Response"
    ET.SubElement(header, f"{{{NS['wsa']}}}MessageID").text = f"uuid:{str(uuid.uuid4()).upper()}"
    ET.SubElement(header, f"{{{NS['wsa']}}}RelatesTo").text = relates_to
    ET.SubElement(header, f"{{{NS['wsa']}}}To").text = ANONYMOUS
    body_el = ET.SubElement(root, f"{{{NS['s']}}}Body")
    for element in body if isinstance(body, list) else ([] if body is None else [body]):
        body_el.append(element)
    return tostring(root)


def fault_envelope(fault: WSManFault, relates_to: str | None, machine: str) -> bytes:
    """The SOAP fault pypsrp turns into ``WSManFaultError(code=fault.code)``."""
    s, wsa = NS["s"], NS["wsa"]
    root = ET.Element(f"{{{s}}}Envelope")
    header = ET.SubElement(root, f"{{{s}}}Header")
    ET.SubElement(header, f"{{{wsa}}}Action").text = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
    ET.SubElement(header, f"{{{wsa}}}MessageID").text = f"uuid:{str(uuid.uuid4()).upper()}"
    if relates_to:
        ET.SubElement(header, f"{{{wsa}}}RelatesTo").text = relates_to
    ET.SubElement(header, f"{{{wsa}}}To").text = ANONYMOUS
    body = ET.SubElement(root, f"{{{s}}}Body")
    fault_el = ET.SubElement(body, f"{{{s}}}Fault")
    code = ET.SubElement(fault_el, f"{{{s}}}Code")
    ET.SubElement(code, f"{{{s}}}Value").text = "s:Receiver" if fault.status >= 500 else "s:Sender"
    sub = ET.SubElement(code, f"{{{s}}}Subcode")
    prefix, _, local = fault.subcode.partition(":")
    ET.SubElement(sub, f"{{{s}}}Value").text = f"{'wsa' if prefix == 'a' else 'wsman'}:{local}"
    reason = ET.SubElement(fault_el, f"{{{s}}}Reason")
    text = ET.SubElement(reason, f"{{{s}}}Text")
    text.set(f"{{{NS['xml']}}}lang", "en-US")
    text.text = fault.message
    detail = ET.SubElement(fault_el, f"{{{s}}}Detail")
    wsman_fault = ET.SubElement(detail, f"{{{NS['wsmanfault']}}}WSManFault",
                                {"Code": str(fault.code), "Machine": machine})
    ET.SubElement(wsman_fault, f"{{{NS['wsmanfault']}}}Message").text = fault.message
    return bytes(ET.tostring(root, encoding="utf-8"))


def rsp(tag: str, attrib: dict[str, str] | None = None, text: str | None = None) -> ET.Element:
    element = ET.Element(f"{{{NS['rsp']}}}{tag}", attrib or {})
    element.text = text
    return element


def sub(parent: ET.Element, ns: str, tag: str, attrib: dict[str, str] | None = None,
        text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{NS[ns]}}}{tag}", attrib or {})
    element.text = text
    return element
