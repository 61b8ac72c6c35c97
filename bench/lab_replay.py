"""The lab's CPU per audited host, without a client in the way (issue 13): one host's audit replayed.

    python bench/lab_replay.py [--hosts 200] [--profile] [--top 40] [--dump DIR]

Records one real audit of one host (pypsrp against an in-process lab pair, NTLM with message encryption
over HTTP), then replays it ``--hosts`` times against the same server, in this one thread, through the
lab's own pieces: the NTLM acceptor (``ConnectionAuth``, driven by a pyspnego initiator), unsealing the
request and sealing the answer (``crypto``), the envelope (``soap``) and the dispatcher (shells, psrpcore,
the engine). The HTTP layer (headers, sockets, threads) is not in it: ``profile_lab.py`` and
``audit_scale.py`` see that. Prints the lab's CPU per host (``time.process_time``, every thread: the
engine runs pipelines in worker threads) and the split by stage; ``--profile`` adds a cProfile of the
replay (this thread only: the engine's workers are not in it); ``--dump DIR`` writes every answer of the
last host, the varying ids masked, to compare two checkouts' answers.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import pstats
import re
import struct
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import spnego

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_scale import SCENARIO

from entra_standby.gather import gather_host
from entra_standby.inventory import inventory_from_dict
from entra_standby.lab.fleet import Fleet
from entra_standby.lab.wire import crypto, http
from entra_standby.lab.wire.auth import ConnectionAuth
from entra_standby.lab.wire.dispatch import CallContext
from entra_standby.lab.wire.soap import WSManFault, envelope, fault_envelope, parse_request

_ID = re.compile(rb"uuid:[0-9A-Fa-f-]{36}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                 rb"[0-9A-Fa-f]{12}")


def readable(answer: bytes) -> bytes:
    """An answer with its PSRP streams decoded fragment by fragment, and what differs per host or per run
    (ids, the port, times) masked: two checkouts' answers compare with ``diff``."""
    def fragments(match: re.Match[bytes]) -> bytes:
        data = base64.b64decode(match.group(2))
        lines = []
        while data:
            object_id, fragment_id, flags, length = struct.unpack(">QQBI", data[:21])
            blob, data = data[21:21 + length], data[21 + length:]
            head = f"\n  fragment {object_id}/{fragment_id} flags {flags}".encode()
            if flags & 1:  # the start of a message: destination, type, RPID, PID, then the CLIXML
                kind = struct.unpack("<I", blob[4:8])[0]
                head += f" type 0x{kind:08x}: ".encode()
                blob = blob[40:]
            lines.append(head + blob)
        return match.group(1) + b"".join(lines) + b"\n"

    text = re.sub(rb"(<rsp:Stream[^>]*>)([A-Za-z0-9+/=]+)", fragments, answer)
    text = _ID.sub(b"<id>", text)
    text = re.sub(rb"127\.\d+\.\d+\.\d+:\d+", b"<address>", text)
    return re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?", b"<time>", text)


def record(server: Any, inventory: dict[str, Any]) -> list[bytes]:
    """The plain request bodies of one real audit of the pair's first host, in order."""
    bodies: list[bytes] = []
    original = getattr(http, "parse_request")  # noqa: B009 - patched below: not re-exported by http

    def capture(data: bytes) -> Any:
        bodies.append(bytes(data))
        return original(data)

    setattr(http, "parse_request", capture)  # noqa: B010
    try:
        parsed = inventory_from_dict(inventory, path=Path("fleet.yml"))
        pair = parsed.pairs[0]
        host, _facts = gather_host(pair.name, pair.servers[0])
        if any(True for _ in getattr(host, "errors", ()) or ()):
            raise SystemExit(f"the recorded audit failed: {host}")
    finally:
        setattr(http, "parse_request", original)  # noqa: B010
    return bodies


class Replay:
    def __init__(self, server: Any) -> None:
        self.app = server._app
        self.url = server.http_url
        self.stages: dict[str, float] = defaultdict(float)

    def _timed(self, stage: str, call: Any, *args: Any) -> Any:
        started = time.process_time()
        try:
            return call(*args)
        finally:
            self.stages[stage] += time.process_time() - started

    def host(self, bodies: list[bytes]) -> list[bytes]:
        app = self.app
        creds = app.credentials
        client = spnego.client(creds.user, creds.password, hostname="lab", protocol="negotiate")
        auth = ConnectionAuth(creds, tls=False, allow_basic=False, cbt=None, users=app.users)
        token = client.step() or b""
        while True:
            outcome = self._auth(auth, token)
            header = next((v for k, v in outcome.headers if k == "WWW-Authenticate"), "")
            if outcome.ok:
                break
            token = client.step(base64.b64decode(header.split(" ", 1)[1])) or b""
        answers = []
        for body in bodies:
            sealed = crypto.wrap(client, body)  # the initiator seals exactly as the lab's own framing
            plain = self._timed("unseal", crypto.unwrap, auth.context, crypto.CONTENT_TYPE, sealed)
            xml = self._timed("dispatch", self._dispatch, plain)
            self._timed("seal", crypto.wrap, auth.context, xml)
            answers.append(xml)
        return answers

    def _auth(self, auth: ConnectionAuth, token: bytes) -> Any:
        return self._timed("ntlm", lambda: auth.authenticate("Negotiate " + base64.b64encode(token).decode(),
                                                             force_fail=False))

    def _dispatch(self, plain: bytes) -> bytes:
        request = parse_request(plain)
        ctx = CallContext(endpoint_url=self.url, owner=self.app.credentials.user, client_ip="127.0.0.1",
                          abandoned=lambda: False)
        try:
            reply = self.app.dispatcher.handle(request, ctx)
        except WSManFault as fault:
            return fault_envelope(fault, request.message_id, self.app.name)
        assert reply is not None
        return envelope(request.action, request.message_id, reply.body, reply.action)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--dump", type=Path)
    args = parser.parse_args()
    with Fleet(SCENARIO, pairs=1, transport="http") as fleet:
        server = next(iter(fleet.labs[0].servers.values())).wire
        bodies = record(server, fleet.inventory_dict())
        replay = Replay(server)
        for _ in range(3):  # warm: the pipeline cache, imports, the engine's first run
            replay.host(bodies)
        replay.stages.clear()
        profile = cProfile.Profile(time.process_time) if args.profile else None
        cpu = time.process_time()
        if profile:
            profile.enable()
        for _ in range(args.hosts):
            answers = replay.host(bodies)
        if profile:
            profile.disable()
        cpu = time.process_time() - cpu
        threads = threading.active_count()
    print(f"{len(bodies)} requests per host after the handshake; {args.hosts} hosts; {threads} threads")
    print(f"lab CPU {1000 * cpu / args.hosts:.2f} ms per host (every thread)")
    for stage, seconds in sorted(replay.stages.items(), key=lambda kv: -kv[1]):
        print(f"  {stage:<9} {1000 * seconds / args.hosts:7.2f} ms/host (this thread)")
    if profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    if args.dump:
        args.dump.mkdir(parents=True, exist_ok=True)
        for index, answer in enumerate(answers):
            (args.dump / f"{index:02d}.txt").write_bytes(readable(answer))
        print(f"answers of the last host written to {args.dump} (ids, ports and times masked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
