"""The lab's envelope serialiser writes exactly what ElementTree writes (issue 13)."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

import pytest

from entra_standby.lab.wire.soap import NS, envelope, tostring

TEXTS = ["", "plain", "a & b < c > d", 'quote " and \' apostrophe', "cr\r lf\n tab\t", "caf\u00e9 \u4e2d",
         "\U0001F600", "lone \ud800 surrogate", "]]>", "  spaced  "]


def _tree(rng: random.Random, depth: int = 0) -> ET.Element:
    prefixes = ["rsp", "wsman", "wsa", "s", "wst", "wsen", "cfg", "pwsh", "wsmanfault"]
    tag = f"{{{NS[rng.choice(prefixes)]}}}T{rng.randint(0, 3)}" if rng.random() < 0.9 else "plain"
    attrib = {}
    for _ in range(rng.randint(0, 3)):
        key = rng.choice(["Name", "CommandId", f"{{{NS['xml']}}}lang", f"{{{NS['s']}}}mustUnderstand"])
        attrib[key] = rng.choice(TEXTS)
    element = ET.Element(tag, attrib)
    element.text = rng.choice([None, *TEXTS])
    if depth < 3:
        for _ in range(rng.randint(0, 3)):
            element.append(_tree(rng, depth + 1))
    return element


def test_random_trees_serialise_as_elementtree_does() -> None:
    rng = random.Random(2026)
    for _ in range(400):
        root = ET.Element(f"{{{NS['s']}}}Envelope")
        root.append(_tree(rng))
        assert tostring(root) == ET.tostring(root, encoding="utf-8")


@pytest.mark.parametrize("unusual", ["tail", "comment", "unregistered", "int-text"])
def test_unusual_trees_are_left_to_elementtree(unusual: str) -> None:
    root = ET.Element(f"{{{NS['s']}}}Envelope")
    child = ET.SubElement(root, f"{{{NS['rsp']}}}Stream")
    if unusual == "tail":
        child.tail = "after & <tail>"
    elif unusual == "comment":
        root.append(ET.Comment(" a comment "))
    elif unusual == "unregistered":
        ET.SubElement(child, "{urn:example:nobody-registered-this}X", {"{urn:example:other}a": "1"})
    else:
        child.text = 7  # type: ignore[assignment]
        with pytest.raises(TypeError):
            ET.tostring(root, encoding="utf-8")
        with pytest.raises(TypeError):
            tostring(root)
        return
    assert tostring(root) == ET.tostring(root, encoding="utf-8")


def test_a_response_envelope_is_what_elementtree_wrote() -> None:
    body = ET.Element(f"{{{NS['rsp']}}}ReceiveResponse")
    stream = ET.SubElement(body, f"{{{NS['rsp']}}}Stream", {"Name": "stdout", "CommandId": "ABC"})
    stream.text = "AAAA+/=="
    ET.SubElement(body, f"{{{NS['rsp']}}}CommandState", {"CommandId": "ABC", "State": "Done"})
    xml = envelope("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive", "uuid:1", [body])
    root = ET.fromstring(xml)
    assert ET.tostring(root, encoding="utf-8") == xml
    assert xml.startswith(b'<s:Envelope xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" '
                          b'xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa=')
    assert b'<rsp:CommandState CommandId="ABC" State="Done" />' in xml
