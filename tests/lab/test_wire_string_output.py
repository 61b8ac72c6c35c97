"""A string output is framed byte for byte as psrpcore frames it, whatever the string holds (issue 13)."""

from __future__ import annotations

import json
import random
import uuid
from xml.etree import ElementTree

import pytest
from psrpcore import ServerPipeline, ServerRunspacePool
from psrpcore.types import PSInvocationState, PSString, serialize

from entra_standby.lab.wire import shells

CORPUS = [
    "",
    "x",
    json.dumps({"probe": "version", "ok": True, "data": {"path": "C:\\Program Files\\Azure AD Sync"}}),
    "a & b < c > d \"quoted\" 'single' ]]> &amp;",
    "max_x and _X and __x_x and _x0041_ literal",
    "tab\there\nnewline\r\ncrlf \x00 nul \x1f unit \x7f del \x85 nel \x9f",
    "caf\u00e9 \u4e2d\u6587 \u0394 \u00a0nbsp",
    "emoji \U0001F600 and astral \U00010000",
    "lone surrogates \ud800 \udfff \ud900 \udbff",
    "_",
    " ",
]


def _psrpcore(value: str) -> bytes:
    pool = ServerRunspacePool()
    element = serialize(value, pool._cipher, our_capability=pool.our_capability,
                        their_capability=pool.their_capability)
    return bytes(ElementTree.tostring(element, encoding="utf-8", method="xml"))


@pytest.mark.parametrize("value", CORPUS)
def test_string_clixml_is_psrpcores(value: str) -> None:
    assert shells.string_clixml(value) == _psrpcore(value)


def test_string_clixml_on_random_strings() -> None:
    rng = random.Random(13)
    alphabet = "ab_xX&<> \t\n\r\x00\x7f\x85\u00e9\u4e2d\ud800\udc00\U0001F600{}\":,\\"
    for _ in range(300):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert shells.string_clixml(value) == _psrpcore(value), repr(value)


def test_a_pool_frames_string_outputs_as_psrpcore_and_leaves_other_values_to_it() -> None:
    values = [*CORPUS, PSString("a PSString stays psrpcore's"), 42, None]

    def sent(pool: ServerRunspacePool) -> list[bytes]:
        pool.runspace_pool_id = uuid.UUID(int=1)
        pipeline = ServerPipeline(pool, uuid.UUID(int=2))
        pipeline._change_state(PSInvocationState.Running, emit=False)
        for value in values:
            if value is None:
                continue  # the lab writes <Nil /> for None (pypsrp cannot read psrpcore's empty output)
            pipeline.write_output(value)
        out = []
        while (payload := pool.data_to_send()) is not None:
            out.append(bytes(payload.data))
        return out

    ours = sent(shells._LabPool())
    assert ours == sent(ServerRunspacePool())
    assert b"a PSString stays" in b"".join(ours) and b"<I32>42</I32>" in b"".join(ours)
