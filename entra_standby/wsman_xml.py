"""WS-Man envelopes written as ElementTree writes them, without its per-character write calls (issue 13).

pypsrp builds every request as an ElementTree (``WSMan._create_header`` + the body from ``shell.py``) and
writes it with ``ET.tostring(envelope, encoding="utf-8")``. ElementTree's writer is pure Python: it walks
the tree once to collect namespaces, then writes every tag, attribute and text piece through a
``TextIOWrapper`` (40-odd ``write`` calls per element): about 0.2 ms of CPU per request, and pypsrp writes
an envelope for every request plus two to size its payloads (``_calc_envelope_size``).

``to_bytes(element)`` writes the same bytes for the trees pypsrp builds: qualified names through
ElementTree's own prefix registry (``ET.register_namespace``, which pypsrp fills with its ``NAMESPACES``),
every namespace used declared once on the root, sorted by prefix, ``xml:`` never declared; attributes in
insertion order; text and attributes escaped by ElementTree's own escaping functions; ``<tag />`` for an
element without text or children; no XML declaration (``utf-8``). Anything outside that subset (a
namespace without a registered prefix, a comment, a non-text value, text UTF-8 cannot encode) raises
``Unsupported`` and the caller falls back to ``ET.tostring``.

``envelope(wsman, ...)`` is the envelope of pypsrp's ``WSMan.invoke``: its header, the same for every
request but for the action, message id, timeout, resource URI and option/selector sets, from a template
(0.05 ms instead of 0.2 ms per request), the body and the sets by the writer above.

``tests/test_wsman_xml.py`` pins the bytes against ``ET.tostring`` for the envelopes pypsrp sends
(Create with its creationXml, Receive for the pool and for a pipeline, Command, Send, Signal, Delete) and
for the one ``_calc_envelope_size`` measures.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any

__all__ = ["Unsupported", "envelope", "envelope_size", "to_bytes"]

# ElementTree's private helpers, so escaping and prefixes are exactly its own (stdlib, stable since 3.3).
_escape_cdata: Any = ET._escape_cdata  # type: ignore[attr-defined]
_escape_attrib: Any = ET._escape_attrib  # type: ignore[attr-defined]
_namespace_map: dict[str, str] = ET._namespace_map  # type: ignore[attr-defined]


class Unsupported(Exception):
    """The tree uses something ``to_bytes`` does not write the way ElementTree does."""


def to_bytes(element: ET.Element) -> bytes:
    """``ET.tostring(element, encoding="utf-8", method="xml")`` for the trees pypsrp builds."""
    used: dict[str, str] = {}
    out: list[str] = []
    _write(element, out, used, root=True)
    out[1] = _declarations(used)
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError:  # ElementTree would write character references instead
        raise Unsupported("text UTF-8 cannot encode") from None


def _declarations(used: dict[str, str]) -> str:
    """Every namespace used, declared on the root as ElementTree does: sorted by prefix."""
    return "".join(f' xmlns:{prefix}="{_escape_attrib(uri)}"' if prefix else f' xmlns="{_escape_attrib(uri)}"'
                   for uri, prefix in sorted(used.items(), key=lambda item: item[1]))


def _qname(name: Any, used: dict[str, str]) -> str:
    if not isinstance(name, str):
        raise Unsupported(f"name {name!r}")
    if name[:1] != "{":
        return name
    known = _qnames.get(name)
    if known is not None and _namespace_map.get(known[1]) == known[2]:  # a re-registered prefix: redo it
        qualified, uri, prefix = known
    else:
        uri, _, local = name[1:].rpartition("}")
        found = _namespace_map.get(uri)
        if found is None:  # ElementTree would invent "ns0": not worth mimicking
            raise Unsupported(f"namespace {uri} has no registered prefix")
        prefix = found
        qualified = f"{prefix}:{local}" if prefix else local
        _qnames[name] = (qualified, uri, prefix)
    if prefix != "xml":
        used[uri] = prefix
    return qualified


_qnames: dict[str, tuple[str, str, str]] = {}  # "{uri}local" -> ("prefix:local", uri, prefix)


def _write(element: ET.Element, out: list[str], used: dict[str, str], root: bool = False) -> None:
    tag = _qname(element.tag, used)
    out.append("<" + tag)
    if root:
        out.append("")  # the namespace declarations, known once the whole tree is written
    for key, value in element.items():
        if not isinstance(value, str):
            raise Unsupported(f"attribute value {value!r}")
        out.append(f' {_qname(key, used)}="{_escape_attrib(value)}"')
    text = element.text
    if text is not None and not isinstance(text, str):
        raise Unsupported(f"text {text!r}")
    if text or len(element):
        out.append(">")
        if text:
            out.append(_escape_cdata(text))
        for child in element:
            _write(child, out, used)
        out.append(f"</{tag}>")
    else:
        out.append(" />")
    tail = element.tail
    if tail:
        if not isinstance(tail, str):
            raise Unsupported(f"tail {tail!r}")
        out.append(_escape_cdata(tail))


def envelope(wsman: Any, action: str, resource_uri: str, resource: ET.Element | None, option_set: Any = None,
             selector_set: Any = None, timeout: int | None = None) -> tuple[str, bytes]:
    """The message id and bytes of the envelope pypsrp 0.9's ``WSMan.invoke`` sends for these arguments.

    Its header (``WSMan._create_header``: the same elements, attributes and order for every request, only
    the action, ids, timeout, resource URI and option/selector sets differ) is written from a template;
    the body and the sets by ``to_bytes``'s writer. Anything the template does not cover (an empty value,
    prefixes registered differently) takes the general path: pypsrp's own header tree, written whole."""
    try:
        return _templated(wsman, action, resource_uri, resource, option_set, selector_set, timeout)
    except Unsupported:
        pass
    root = ET.Element(f"{{{_S}}}Envelope")
    message_id, header = wsman._create_header(action, resource_uri, option_set, selector_set, timeout)
    root.append(header)
    body = ET.SubElement(root, f"{{{_S}}}Body")
    if resource is not None:
        body.append(resource)
    return f"uuid:{message_id}", _bytes(root)


# The header's namespaces and the prefixes the template writes (pypsrp registers them with ElementTree).
_HEADER_PREFIXES = {"http://www.w3.org/2003/05/soap-envelope": "s",
                    "http://schemas.xmlsoap.org/ws/2004/08/addressing": "wsa",
                    "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd": "wsman",
                    "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd": "wsmv",
                    "http://www.w3.org/XML/1998/namespace": "xml"}
_ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"


def _templated(wsman: Any, action: str, resource_uri: str, resource: ET.Element | None, option_set: Any,
               selector_set: Any, timeout: int | None) -> tuple[str, bytes]:
    if any(_namespace_map.get(uri) != prefix for uri, prefix in _HEADER_PREFIXES.items()):
        raise Unsupported("header prefixes registered differently")
    texts = (action, wsman.data_locale, wsman.locale, str(wsman.max_envelope_size),
             str(timeout or wsman.operation_timeout), resource_uri, wsman.transport.endpoint)
    if not all(isinstance(text, str) and text for text in texts):
        raise Unsupported("an empty or non-text header value")
    action, data_locale, locale, max_size, operation_timeout, resource_uri, endpoint = texts
    used = {uri: prefix for uri, prefix in _HEADER_PREFIXES.items() if prefix != "xml"}
    out = [""]  # the root start tag, once the namespaces are known
    for part in (option_set, selector_set):
        if part is not None:
            _write(part.pack(), out, used)
    sets = "".join(out)
    out = ["<s:Body>"]
    if resource is not None:
        _write(resource, out, used)
        out.append("</s:Body>")
    else:
        out = ["<s:Body />"]
    body = "".join(out)
    message_id = str(uuid.uuid4()).upper()  # as _create_header draws it
    header = (
        '<s:Header>'
        f'<wsa:Action s:mustUnderstand="true">{_escape_cdata(action)}</wsa:Action>'
        f'<wsmv:DataLocale s:mustUnderstand="false" xml:lang="{_escape_attrib(data_locale)}" />'
        f'<wsman:Locale s:mustUnderstand="false" xml:lang="{_escape_attrib(locale)}" />'
        f'<wsman:MaxEnvelopeSize s:mustUnderstand="true">{_escape_cdata(max_size)}</wsman:MaxEnvelopeSize>'
        f'<wsa:MessageID>uuid:{message_id}</wsa:MessageID>'
        f'<wsman:OperationTimeout>PT{_escape_cdata(operation_timeout)}S</wsman:OperationTimeout>'
        f'<wsa:ReplyTo><wsa:Address s:mustUnderstand="true">{_ANONYMOUS}</wsa:Address></wsa:ReplyTo>'
        f'<wsman:ResourceURI s:mustUnderstand="true">{_escape_cdata(resource_uri)}</wsman:ResourceURI>'
        f'<wsmv:SessionId s:mustUnderstand="false">uuid:{_escape_cdata(str(wsman.session_id).upper())}'
        '</wsmv:SessionId>'
        f'<wsa:To>{_escape_cdata(endpoint)}</wsa:To>'
        f'{sets}</s:Header>')
    text = f"<s:Envelope{_declarations(used)}>{header}{body}</s:Envelope>"
    try:
        return f"uuid:{message_id}", text.encode("utf-8")
    except UnicodeEncodeError:
        raise Unsupported("text UTF-8 cannot encode") from None


def envelope_size(wsman: Any, max_envelope_size: int) -> int:
    """pypsrp 0.9's ``WSMan._calc_envelope_size``: the same skeleton Send envelope, measured from the same
    bytes."""
    from pypsrp.wsman import NAMESPACES, SelectorSet, WSManAction

    empty_uuid = "00000000-0000-0000-0000-000000000000"
    selector_set = SelectorSet()
    selector_set.add_option("ShellId", empty_uuid)
    resource_uri = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
    _, header = wsman._create_header(WSManAction.SEND, resource_uri, selector_set=selector_set)
    rsp = NAMESPACES["rsp"]
    send = ET.Element(f"{{{rsp}}}Send")
    ET.SubElement(send, f"{{{rsp}}}Stream", Name="stdin", CommandId=empty_uuid).text = ""
    root = ET.Element(f"{{{_S}}}Envelope")
    root.append(header)
    root.append(send)
    envelope_size = len(_bytes(root)) + 256
    return int((max_envelope_size - envelope_size) / 4 * 3)


_S = "http://www.w3.org/2003/05/soap-envelope"


def _bytes(root: ET.Element) -> bytes:
    try:
        return to_bytes(root)
    except Unsupported:
        written: bytes = ET.tostring(root, encoding="utf-8", method="xml")
        return written
