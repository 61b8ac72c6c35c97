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

``tests/test_wsman_xml.py`` pins the bytes against ``ET.tostring`` for the envelopes pypsrp sends
(Create with its creationXml, Receive for the pool and for a pipeline, Command, Send, Signal, Delete) and
for the one ``_calc_envelope_size`` measures.
"""

from __future__ import annotations

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
    declarations = "".join(f' xmlns:{prefix}="{_escape_attrib(uri)}"' if prefix else
                           f' xmlns="{_escape_attrib(uri)}"'
                           for uri, prefix in sorted(used.items(), key=lambda item: item[1]))
    out[1] = declarations
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError:  # ElementTree would write character references instead
        raise Unsupported("text UTF-8 cannot encode") from None


def _qname(name: Any, used: dict[str, str]) -> str:
    if not isinstance(name, str):
        raise Unsupported(f"name {name!r}")
    if name[:1] != "{":
        return name
    uri, _, local = name[1:].rpartition("}")
    prefix = _namespace_map.get(uri)
    if prefix is None:  # ElementTree would invent "ns0": not worth mimicking
        raise Unsupported(f"namespace {uri} has no registered prefix")
    if prefix != "xml":
        used[uri] = prefix
    return f"{prefix}:{local}" if prefix else local


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
    """The message id and bytes of the envelope pypsrp 0.9's ``WSMan.invoke`` sends for these arguments:
    the same tree (its own ``_create_header``, then ``s:Body`` with ``resource``), written by ``to_bytes``
    (or by ``ET.tostring`` when ``Unsupported``)."""
    s = _S
    root = ET.Element(f"{{{s}}}Envelope")
    message_id, header = wsman._create_header(action, resource_uri, option_set, selector_set, timeout)
    root.append(header)
    body = ET.SubElement(root, f"{{{s}}}Body")
    if resource is not None:
        body.append(resource)
    return f"uuid:{message_id}", _bytes(root)


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
