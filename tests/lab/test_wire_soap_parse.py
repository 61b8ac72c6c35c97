"""The lab's request parser: the C parser only for UTF-8 bodies without a DTD, the same tree either way."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from defusedxml import ElementTree as SafeET
from defusedxml.common import EntitiesForbidden

from entra_standby.lab.wire.soap import NS, WSManFault, _without_dtd, clark, parse_request, parse_xml

ENVELOPE = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">'
    '<s:Header><wsa:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Get'
    '</wsa:Action><wsa:MessageID>uuid:11111111-2222-3333-4444-555555555555</wsa:MessageID>'
    '<wsman:ResourceURI>http://schemas.microsoft.com/powershell/Microsoft.PowerShell</wsman:ResourceURI>'
    '<wsman:OperationTimeout>PT20.500S</wsman:OperationTimeout>'
    '<wsman:MaxEnvelopeSize>512000</wsman:MaxEnvelopeSize>'
    '<wsman:SelectorSet><wsman:Selector Name="ShellId"> ABC </wsman:Selector></wsman:SelectorSet>'
    '</s:Header><s:Body><rsp:Receive><rsp:DesiredStream CommandId="X">stdout &amp; &#233; &lt;x&gt;'
    '</rsp:DesiredStream></rsp:Receive><!-- a comment --></s:Body></s:Envelope>'
)


@pytest.mark.parametrize("data, fast", [
    (ENVELOPE.encode(), True),
    (b"\xef\xbb\xbf" + ENVELOPE.encode(), True),
    (b'<?xml version="1.0" encoding="UTF-8"?>' + ENVELOPE.encode(), True),
    (b"<?xml version='1.0' encoding='utf8' standalone='yes'?>" + ENVELOPE.encode(), True),
    (b'<?xml version="1.0"?>' + ENVELOPE.encode(), True),
    (b'<?xml version="1.0" encoding="ISO-8859-1"?>' + ENVELOPE.encode(), False),
    (b'<?xml version="1.0" encoding="UTF-16"?>' + ENVELOPE.encode(), False),
    (ENVELOPE.encode("utf-16"), False),
    (ENVELOPE.encode("utf-16-le"), False),
    (b"<!DOCTYPE x><x/>", False),
    (b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', False),
    (ENVELOPE.encode().replace(b"<s:Body>", b"<s:Body><!-- <!DOCTYPE --> "), False),
    (b" " + ENVELOPE.encode(), False),
])
def test_which_bodies_skip_defusedxml(data: bytes, fast: bool) -> None:
    assert _without_dtd(data) is fast


@pytest.mark.parametrize("data", [ENVELOPE.encode(), b"\xef\xbb\xbf" + ENVELOPE.encode(),
                                  b'<?xml version="1.0" encoding="utf-8"?>' + ENVELOPE.encode(),
                                  ENVELOPE.encode("utf-16")])
def test_both_parsers_build_the_same_tree(data: bytes) -> None:
    assert ET.tostring(parse_xml(data)) == ET.tostring(SafeET.fromstring(data))


def test_entities_are_still_refused_and_malformed_bodies_are_still_faults() -> None:
    bomb = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><x>&a;&a;</x>'
    with pytest.raises(EntitiesForbidden):
        parse_xml(bomb)
    for body in (bomb, b"<not xml", ENVELOPE.encode()[:-5], b"<x>&undefined;</x>"):
        with pytest.raises(WSManFault) as fault:
            parse_request(body)
        assert fault.value.code == 0x80070057


def test_a_request_reads_as_before() -> None:
    request = parse_request(ENVELOPE.encode())
    assert request.action == "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
    assert request.message_id == "uuid:11111111-2222-3333-4444-555555555555"
    assert request.resource_uri == "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
    assert request.operation_timeout_s == 20.5
    assert request.max_envelope_size == 512000
    assert request.selectors == {"ShellId": "ABC"}
    assert request.body is not None and request.body.tag == f"{{{NS['rsp']}}}Receive"
    desired = request.body.find(clark("rsp:DesiredStream"))
    assert desired is not None and desired.text == "stdout & \u00e9 <x>"


def test_clark_names() -> None:
    assert clark("s:Header") == f"{{{NS['s']}}}Header"
    assert clark("wsman:SelectorSet/wsman:Selector") == (f"{{{NS['wsman']}}}SelectorSet/"
                                                         f"{{{NS['wsman']}}}Selector")
    assert clark("plain") == "plain"
