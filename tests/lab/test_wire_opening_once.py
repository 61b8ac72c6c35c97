"""The opening handshake (SessionCapability, InitRunspacePool) is parsed and answered once per process, and
every pool still ends up exactly as psrpcore alone would leave it (issue 13)."""

from __future__ import annotations

from typing import Any

from psrpcore import ClientRunspacePool, PSRPPayload, ServerRunspacePool, StreamType
from psrpcore.types import RunspacePoolState

from entra_standby.lab.wire import shells


def _opening(client: ClientRunspacePool) -> bytes:
    client.open()
    data = b""
    while (payload := client.data_to_send()) is not None:
        data += bytes(payload.data)
    return data


def _serve(pool: Any, data: bytes) -> tuple[list[bytes], Any]:
    """Feed the client's opening to ``pool``; its answers (whole payloads) and its events."""
    pool.receive_data(PSRPPayload(data, StreamType.default, None))
    events = []
    while (event := pool.next_event()) is not None:
        events.append(event)
    answers = []
    while (payload := pool.data_to_send()) is not None:
        answers.append(bytes(payload.data))
    return answers, events


def _fresh_caches() -> None:
    shells._parsed_messages = shells._ParsedPipelines()
    shells._opening_answers = shells._ParsedPipelines()


def test_every_pool_answers_byte_for_byte_as_psrpcore_and_is_left_in_the_same_state() -> None:
    _fresh_caches()
    for attempt in range(3):  # the first pool fills the caches, the next ones are served from them
        client = ClientRunspacePool(min_runspaces=1, max_runspaces=4 + attempt)
        data = _opening(client)
        plain, ours = ServerRunspacePool(), shells._LabPool()
        plain_answers, plain_events = _serve(plain, data)
        our_answers, our_events = _serve(ours, data)
        assert our_answers == plain_answers and len(our_answers) == 1
        assert [type(e) for e in our_events] == [type(e) for e in plain_events]
        for attribute in ("state", "runspace_pool_id", "max_runspaces", "min_runspaces", "apartment_state",
                          "thread_options", "application_arguments"):
            assert getattr(ours, attribute) == getattr(plain, attribute), attribute
        assert repr(ours.their_capability) == repr(plain.their_capability)
        assert ours.state == RunspacePoolState.Opened
        for payload in our_answers:  # the client accepts them and opens
            client.receive_data(PSRPPayload(payload, StreamType.default, None))
        while client.next_event() is not None:
            pass
        assert client.state == RunspacePoolState.Opened
    # one SessionCapability body and three InitRunspacePool bodies (max_runspaces differs) were parsed
    assert len(shells._parsed_messages._items) == 4
    assert len(shells._opening_answers._items) == 3  # the three answers: the same for every pool


def test_a_pool_with_its_own_private_data_is_not_answered_from_the_cache() -> None:
    _fresh_caches()
    data = _opening(ClientRunspacePool())
    default_answers, _ = _serve(shells._LabPool(), data)
    own = shells._LabPool(application_private_data={"Lab": "own data"})
    own_answers, _ = _serve(own, data)
    plain_answers, _ = _serve(ServerRunspacePool(application_private_data={"Lab": "own data"}), data)
    assert own_answers == plain_answers != default_answers
    assert b"own data" in own_answers[0] and b"own data" not in default_answers[0]


def test_a_client_with_another_capability_gets_its_own_parse() -> None:
    _fresh_caches()
    first = _opening(ClientRunspacePool())
    _serve(shells._LabPool(), first)
    other_client = ClientRunspacePool()
    other_client.our_capability.protocolversion = "2.2"
    other = _opening(other_client)
    answers, _ = _serve(shells._LabPool(), other)
    plain, _ = _serve(ServerRunspacePool(), other)
    assert answers == plain
    kinds = sorted(str(key[1]) for key in shells._parsed_messages._items)
    assert kinds.count("SessionCapability") == 2


def test_pipeline_states_are_framed_as_psrpcore_frames_them() -> None:
    import uuid

    from psrpcore import ServerPipeline
    from psrpcore.types import PSInvocationState

    from entra_standby.lab.engine import ErrorInfo
    from entra_standby.lab.wire import psvalues

    _fresh_caches()

    def states(pool: Any) -> list[bytes]:
        pool.runspace_pool_id = uuid.UUID(int=1)
        for n, how in enumerate(["complete", "complete", "failed", "stopped", "complete"]):
            pipeline = ServerPipeline(pool, uuid.UUID(int=10 + n))
            pipeline._change_state(PSInvocationState.Running, emit=False)
            if how == "complete":
                pipeline.complete()
            elif how == "failed":
                error = psvalues.error_record(ErrorInfo(message="the probe failed"))
                pipeline._change_state(PSInvocationState.Failed, error)
            else:
                pipeline.stop()
        out = []
        while (payload := pool.data_to_send()) is not None:
            out.append(bytes(payload.data))
        return out

    ours = states(shells._LabPool())
    assert ours == states(ServerRunspacePool())
    assert b"the probe failed" in b"".join(ours)
    assert any(key[0] == "PipelineState" for key in shells._opening_answers._items)
