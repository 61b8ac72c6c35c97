"""Issue 12: bounded fuzzing of the lab's endpoints (loopback only).

A fixed seed, a fixed number of cases and a time budget per exchange: hand-written hostile HTTP requests
(broken request lines, headers, lengths, authorization tokens) to both WinRM listeners of a server and to the
cloud stand-in, hostile WS-Man envelopes and PSRP fragments (authenticated, Basic over HTTPS), and seeded
byte mutations of a valid Create envelope. Every exchange must end in an HTTP error status, a SOAP fault or
a closed connection within its budget: never a hang, never a 2xx for garbage, never a lab traceback. After
the storm, the lab is still up and a normal audit of the pair (hosts and cloud) gathers every fact.
"""

from __future__ import annotations

import base64
import logging
import random
import socket
import ssl
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from spine_helpers import SCENARIOS

from entra_standby.gather import gather
from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab
from entra_standby.probes import PROBE_NAMES

SEED = 12
MUTATIONS = 40  # seeded byte mutations of a valid envelope
BUDGET_S = 5.0  # per exchange: a fault or a close must come well within it

NS = ('xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
      'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
      'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
      'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"')
PS_URI = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"


def envelope(action: str, body: str = "", *, selectors: str = "", resource: str = PS_URI,
             timeout: str = "PT2S", size: str = "153600") -> bytes:
    return (f'<s:Envelope {NS}><s:Header>'
            f'<wsa:Action s:mustUnderstand="true">{action}</wsa:Action>'
            f'<wsa:To>http://127.0.0.1/wsman</wsa:To>'
            f'<wsman:ResourceURI s:mustUnderstand="true">{resource}</wsman:ResourceURI>'
            f'<wsa:MessageID>uuid:{uuid.UUID(int=7)}</wsa:MessageID>'
            f'<wsman:OperationTimeout>{timeout}</wsman:OperationTimeout>'
            f'<wsman:MaxEnvelopeSize s:mustUnderstand="true">{size}</wsman:MaxEnvelopeSize>'
            f'<wsa:ReplyTo><wsa:Address s:mustUnderstand="true">'
            f'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>'
            f'{selectors}</s:Header><s:Body>{body}</s:Body></s:Envelope>').encode()


def fragment(blob: bytes, *, object_id: int = 1, fragment_id: int = 0, flags: int = 3,
             length: int | None = None) -> bytes:
    """One PSRP fragment ([MS-PSRP] 2.2.4): object id, fragment id, start/end flags, blob length, blob."""
    return struct.pack(">QQBI", object_id, fragment_id, flags, len(blob) if length is None else length) + blob


def message(data: bytes, *, message_type: int = 0x00010002, destination: int = 2) -> bytes:
    """A PSRP message ([MS-PSRP] 2.2.1): destination, type, runspace pool id, pipeline id, data."""
    return struct.pack("<II", destination, message_type) + uuid.uuid4().bytes_le + bytes(16) + data


def create(creation: bytes | str) -> bytes:
    text = creation if isinstance(creation, str) else base64.b64encode(creation).decode()
    return envelope(f"{TRANSFER}/Create",
                    "<rsp:Shell><rsp:InputStreams>stdin pr</rsp:InputStreams>"
                    "<rsp:OutputStreams>stdout</rsp:OutputStreams>"
                    f'<creationXml xmlns="http://schemas.microsoft.com/powershell">{text}</creationXml>'
                    "</rsp:Shell>")


def on_shell(action: str, body: str = "", shell_id: str = str(uuid.UUID(int=9))) -> bytes:
    return envelope(f"{SHELL}/{action}", body,
                    selectors=f'<wsman:SelectorSet><wsman:Selector Name="ShellId">{shell_id}</wsman:Selector>'
                              '</wsman:SelectorSet>')


SESSION_KEY = b"<Obj RefId=\"0\"><MS><Version N=\"protocolversion\">2.3</Version></MS></Obj>"
BOMB = ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>')
XXE = '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>'

# WS-Man and PSRP bodies, sent authenticated (Basic over HTTPS) to /wsman
BODIES: list[tuple[str, bytes]] = [
    ("not-xml", b"this is not xml"),
    ("binary", bytes(range(256)) * 8),
    ("empty-envelope", b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>'),
    ("no-header", f'<s:Envelope {NS}><s:Body/></s:Envelope>'.encode()),
    ("billion-laughs", BOMB.encode() + envelope(f"{TRANSFER}/Get", "&d;")),
    ("xxe", XXE.encode() + envelope(f"{TRANSFER}/Get", "&x;")),
    ("deep-xml", envelope(f"{TRANSFER}/Get", "<a>" * 20000 + "</a>" * 20000)),
    ("utf16-body", envelope(f"{TRANSFER}/Get").decode().encode("utf-16")),
    ("unknown-action", envelope("http://example.invalid/Nope")),
    ("empty-action", envelope("")),
    ("unknown-resource", create(SESSION_KEY).replace(PS_URI.encode(), b"http://example.invalid/x")),
    ("bad-timeout", envelope(f"{TRANSFER}/Get", timeout="PT99999999999999999999S")),
    ("negative-timeout", envelope(f"{TRANSFER}/Get", timeout="-PT5S")),
    ("bad-envelope-size", envelope(f"{TRANSFER}/Get", size="-1")),
    ("huge-envelope-size", envelope(f"{TRANSFER}/Get", size="9" * 400)),
    ("create-no-creation-xml", envelope(f"{TRANSFER}/Create", "<rsp:Shell/>")),
    ("create-bad-base64", create("%%%not-base64%%%")),
    ("create-empty-creation", create(b"")),
    ("create-random-bytes", create(random.Random(SEED).randbytes(300))),
    ("create-fragment-huge-length", create(fragment(b"x" * 40, length=0xFFFFFFFF))),
    ("create-fragment-short", create(fragment(b"")[:10])),
    ("create-fragment-not-start", create(fragment(message(SESSION_KEY), flags=2, fragment_id=5))),
    ("create-unknown-message-type", create(fragment(message(SESSION_KEY, message_type=0x7FFFFFFF)))),
    ("create-message-not-clixml", create(fragment(message(b"\xff\xfe not xml")))),
    ("create-message-bomb", create(fragment(message(BOMB.encode() + b"<Obj>&d;</Obj>")))),
    ("create-message-xxe", create(fragment(message(XXE.encode() + b"<Obj>&x;</Obj>")))),
    ("create-message-deep", create(fragment(message(b"<Obj><LST>" * 3000 + b"</LST></Obj>" * 3000)))),
    ("create-many-fragments", create(b"".join(fragment(b"y" * 8, fragment_id=i, flags=0)
                                              for i in range(2000)))),
    ("command-unknown-shell", on_shell("Command", "<rsp:CommandLine><rsp:Command>x</rsp:Command>"
                                                  "<rsp:Arguments>AAAA</rsp:Arguments></rsp:CommandLine>")),
    ("receive-unknown-shell", on_shell("Receive", '<rsp:Receive><rsp:DesiredStream>stdout</rsp:DesiredStream>'
                                                  '</rsp:Receive>')),
    ("send-unknown-shell", on_shell("Send", '<rsp:Send><rsp:Stream Name="pr">!!!</rsp:Stream></rsp:Send>')),
    ("signal-unknown-shell", on_shell("Signal", '<rsp:Signal><rsp:Code>nope</rsp:Code></rsp:Signal>')),
    ("delete-unknown-shell", envelope(f"{TRANSFER}/Delete", selectors='<wsman:SelectorSet><wsman:Selector '
                                      'Name="ShellId">not-a-uuid</wsman:Selector></wsman:SelectorSet>')),
    ("selector-not-uuid", on_shell("Receive", "<rsp:Receive/>", shell_id="../../etc/passwd")),
    ("enumerate-garbage", envelope("http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate",
                                   "<wsen:Enumerate xmlns:wsen='x'><junk/></wsen:Enumerate>")),
]

# Raw HTTP, no credentials: to the HTTP and HTTPS WinRM listeners, and the cloud stand-in
POST = b"POST /wsman HTTP/1.1\r\nHost: x\r\n"
NO_BODY = b"\r\nContent-Length: 0\r\n\r\n"
RAW: list[tuple[str, bytes]] = [
    ("garbage", b"\x00\x01\x02 hello \xff\xfe\r\n\r\n"),
    ("bad-request-line", b"POST\r\n\r\n"),
    ("http-0.9", b"GET /wsman\r\n"),
    ("unknown-method", b"BREW /wsman HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("connect", b"CONNECT 10.0.0.1:443 HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n"),
    ("absolute-uri-elsewhere", b"GET http://10.0.0.1/ HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n"),
    ("long-url", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("long-header", b"POST /wsman HTTP/1.1\r\nHost: x\r\nX-A: " + b"b" * 70000 + b"\r\n\r\n"),
    ("many-headers", POST + b"".join(b"X-%d: 1\r\n" % i for i in range(300)) + b"\r\n"),
    ("nul-in-path", b"POST /ws\x00man HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
    ("traversal", b"GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("cl-negative", b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nabc"),
    ("cl-word", b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\nabc"),
    ("cl-huge", b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"9" * 40 + b"\r\n\r\nabc"),
    ("cl-two-values", POST + b"Content-Length: 3\r\nContent-Length: 9\r\n\r\nabc"),
    ("cl-short-body", b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc"),
    ("chunked", b"POST /wsman HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\nabc"),
    ("expect-continue", POST + b"Expect: 100-continue\r\nContent-Length: 10\r\n\r\n"),
    ("half-request", b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-"),
    ("basic-not-base64", POST + b"Authorization: Basic %%%" + NO_BODY),
    ("basic-no-colon", b"POST /wsman HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
                       + base64.b64encode(b"auditor") + b"\r\nContent-Length: 0\r\n\r\n"),
    ("basic-not-utf8", b"POST /wsman HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
                       + base64.b64encode(b"\xff\xfe:\xff") + b"\r\nContent-Length: 0\r\n\r\n"),
    ("basic-huge", b"POST /wsman HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + b"QUFB" * 15000
                   + b"\r\nContent-Length: 0\r\n\r\n"),
    ("negotiate-garbage", b"POST /wsman HTTP/1.1\r\nHost: x\r\nAuthorization: Negotiate "
                          + base64.b64encode(random.Random(SEED + 1).randbytes(200)) + NO_BODY),
    ("ntlm-type3-alone", b"POST /wsman HTTP/1.1\r\nHost: x\r\nAuthorization: Negotiate "
                         + base64.b64encode(b"NTLMSSP\x00\x03\x00\x00\x00" + bytes(80))
                         + b"\r\nContent-Length: 0\r\n\r\n"),
    ("negotiate-empty", POST + b"Authorization: Negotiate" + NO_BODY),
    ("unknown-scheme", POST + b"Authorization: Digest x=1" + NO_BODY),
    ("encrypted-without-session", b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/encrypted;"
                                  b"protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"E\"\r\n"
                                  b"Content-Length: 4\r\n\r\nabcd"),
]

# Raw HTTP to the cloud stand-in (HTTPS): its own paths
CLOUD_RAW: list[tuple[str, bytes]] = [
    ("token-cl-word", b"POST /t/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\nabc"),
    ("token-cl-negative", b"POST /t/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
    ("token-binary-form", b"POST /t/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\nContent-Length: 256\r\n\r\n"
                          + bytes(range(256))),
    ("token-bad-grant", b"POST /t/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\nContent-Length: 32\r\n\r\n"
                        b"grant_type=password&client_id=%%"),
    ("graph-bearer-garbage", b"GET /v1.0/organization HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                             + b"A" * 5000 + b"\r\n\r\n"),
    ("graph-traversal", b"GET /v1.0/users/..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("graph-odata-junk", b"GET /v1.0/users?$filter=" + b"(" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("discovery-post", b"POST /t/v2.0/.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 0\r\n\r\n"),
    ("put", b"PUT /v1.0/organization HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
]


def exchange(address: str, port: int, payload: bytes, *, ca: Path | None) -> str:
    """Send ``payload`` (then EOF) and read what comes back: "HTTP <status>", "closed" or "HANG"."""
    deadline = time.monotonic() + BUDGET_S
    raw = socket.create_connection((address, port), timeout=BUDGET_S)
    sock: socket.socket = raw
    try:
        if ca is not None:
            context = ssl.create_default_context(cafile=str(ca))
            context.check_hostname = False
            sock = context.wrap_socket(raw, server_hostname=address)
        try:
            sock.sendall(payload)
            # EOF: a server waiting for more must give up now. Under TLS a plain TCP half-close (a ragged
            # EOF): SSLSocket.shutdown would drop the TLS layer and leave us reading raw records.
            socket.socket.shutdown(sock, socket.SHUT_WR)
        except OSError:
            return "closed"
        data = b""
        while time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return "HANG" if not data else _status(data)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
            if _complete(data):
                break
        else:
            return "HANG"
        return _status(data) if data else "closed"
    finally:
        sock.close()


def _final(data: bytes) -> bytes:
    """The response after any interim 1xx ones (100 Continue answers Expect: 100-continue)."""
    while data.startswith(b"HTTP/1.1 1") and b"\r\n\r\n" in data:
        data = data.split(b"\r\n\r\n", 1)[1]
    return data


def _complete(data: bytes) -> bool:
    data = _final(data)
    if b"\r\n\r\n" not in data:
        return False
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip() or b"0")
    return True


def _status(data: bytes) -> str:
    data = _final(data)
    if not data:
        return "closed"  # after 100 Continue, the body never came: the server hung up
    first = data.split(b"\r\n", 1)[0].split()
    if len(first) >= 2 and first[0].startswith(b"HTTP/") and first[1].isdigit():
        return f"HTTP {int(first[1])}"
    # http.server answers a request without an HTTP version the HTTP/0.9 way: the error page alone
    return "HTTP/0.9 error page" if b"<title>Error response</title>" in data else "garbage-answer"


# A 2xx is a bug for garbage; these bodies are well-formed enough that WinRM accepts them too.
ACCEPTED_2XX = {
    # A Create whose creationXml holds no (or no complete) PSRP message: the shell opens and waits for the
    # rest of the session's fragments (they may come in Send); one never used is reaped when idle.
    "wsman/create-empty-creation", "wsman/create-many-fragments",
    # Enumerate of the shell resource lists the caller's shells; unknown body elements are ignored.
    "wsman/enumerate-garbage",
}


def _refused(outcome: str) -> bool:
    if outcome in ("closed", "HTTP/0.9 error page"):
        return True
    return outcome.startswith("HTTP ") and int(outcome[5:]) >= 400


def _basic(lab: Lab) -> bytes:
    assert lab.credentials is not None
    token = f"{lab.credentials.username}:{lab.credentials.password}".encode()
    return b"Authorization: Basic " + base64.b64encode(token)


def _post(lab: Lab, body: bytes) -> bytes:
    return (b"POST /wsman HTTP/1.1\r\nHost: x\r\n" + _basic(lab) + b"\r\nContent-Type: application/soap+xml;"
            b"charset=UTF-8\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def _mutations() -> list[tuple[str, bytes]]:
    """Seeded byte flips, deletions and insertions in a valid Create envelope (its PSRP payload too)."""
    rng = random.Random(SEED)
    valid = bytearray(create(fragment(message(SESSION_KEY))))
    cases = []
    for n in range(MUTATIONS):
        body = bytearray(valid)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(body))
            kind = rng.choice(("flip", "delete", "insert"))
            if kind == "flip":
                body[at] ^= 1 << rng.randrange(8)
            elif kind == "delete":
                del body[at:at + rng.randint(1, 16)]
            else:
                body[at:at] = rng.choice((b"<", b">", b"&", b"\x00", b"]]>", b"\xff", b"<!--", b"=", b'"'))
        cases.append((f"mutation-{n:02d}", bytes(body)))
    return cases


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(SCENARIOS / "healthy-pair.yml") as running:
        yield running


def _targets(lab: Lab) -> list[tuple[str, str, int, Path | None]]:
    server = lab.servers["aadc02"]
    assert server.http_port and server.https_port and lab.ca_path is not None
    return [("http", server.address, server.http_port, None), ("https", server.address, server.https_port,
                                                                lab.ca_path)]


def test_fuzz_matrix_size() -> None:
    sizes = {"raw http x 2 listeners": len(RAW) * 2, "ws-man/psrp bodies": len(BODIES),
             "mutations": MUTATIONS, "cloud": len(CLOUD_RAW) + len(RAW)}
    print(f"lab fuzz cases: {sizes}, total {sum(sizes.values())}, seed {SEED}, {BUDGET_S} s per exchange")
    assert sum(sizes.values()) >= 150


def _storm(cases: list[tuple[str, bytes]], send: Callable[[bytes], str]) -> dict[str, str]:
    return {name: send(payload) for name, payload in cases}


def test_the_lab_survives_the_fuzz_and_still_audits(lab: Lab, caplog: pytest.LogCaptureFixture,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.WARNING)
    outcomes: dict[str, str] = {}
    t0 = time.monotonic()
    for label, address, port, ca in _targets(lab):
        for name, payload in RAW:
            outcomes[f"{label}/{name}"] = exchange(address, port, payload, ca=ca)
    https = _targets(lab)[1]
    bodies = BODIES + _mutations()
    wsman = _storm(bodies, lambda b: exchange(https[1], https[2], _post(lab, b), ca=https[3]))
    for name, outcome in wsman.items():
        outcomes[f"wsman/{name}"] = outcome
    assert lab.cloud is not None
    cloud = urlsplit(lab.cloud.graph_url)
    assert cloud.hostname is not None and cloud.port is not None
    for name, outcome in _storm(CLOUD_RAW + RAW,
                                lambda p: exchange(str(cloud.hostname), int(cloud.port or 0), p,
                                                   ca=lab.ca_path)).items():
        outcomes[f"cloud/{name}"] = outcome
    elapsed = time.monotonic() - t0

    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    summary = f"lab fuzz: {len(outcomes)} exchanges in {elapsed:.1f} s: {dict(sorted(counts.items()))}"
    hung = sorted(name for name, outcome in outcomes.items() if outcome == "HANG")
    accepted = sorted(f"{name}: {outcome}" for name, outcome in outcomes.items()
                      if not _refused(outcome) and outcome != "HANG" and name not in ACCEPTED_2XX)
    assert not hung, hung
    assert not accepted, accepted
    crashes = [r.getMessage() for r in caplog.records if r.exc_info or "unexpected" in r.getMessage()]
    assert not crashes, crashes[:5]
    printed = capfd.readouterr()
    # e.g. socketserver's handle_error, which prints a handler's exception to stderr
    assert "Traceback" not in printed.err + printed.out, printed.err[-2000:]
    print(summary)  # after readouterr, which would swallow it

    # Still up: a normal audit of the pair, hosts and cloud, gathers every fact.
    run = gather(inventory_from_dict(lab.inventory_dict(), path=Path("inventory/lab.yml")))
    for host in run.pairs[0].servers:
        assert sorted(host.values) == sorted(PROBE_NAMES), host.errors
    cloud_view: Any = getattr(run.pairs[0], "cloud", None)
    if cloud_view is not None:
        assert not getattr(cloud_view, "errors", None), cloud_view
