"""The runspace pool's opening messages, serialised once per run (issue 13), as ``prepared.py`` does for the
batch.

pypsrp's ``RunspacePool.open`` builds SESSION_CAPABILITY and INIT_RUNSPACEPOOL for every host with its
``Serializer`` and writes them with ElementTree: the same XML for every pool with the same settings
(protocol, PowerShell and serialisation versions; min/max runspaces, thread options, apartment state),
since no host information is sent (``host=None``) and no application arguments. Here that XML is written
once per process per settings (``_xml``, with pypsrp's own ``Serializer`` and ``ET.tostring``, as
``Message.pack`` does) and every host's open cuts it into fragments with pypsrp's own ``Fragmenter`` and
``Message`` (only the pool id and the fragment counter differ per host): ``Message.pack`` takes bytes
from its serializer as they are, so a serializer that hands back the prepared bytes is all it needs.
Then the Create request goes as ``open`` sends it (``creationXml`` with the first fragment, the
``protocolversion`` option) and the pool receives until it is opened, as ``open`` does.

A pool with a host or application arguments opens the stock way. pypsrp internals used (0.9):
``RunspacePool._fragmenter`` (``max_size``, ``outgoing_counter``), ``_receive``, ``shell``, ``state``,
``min_runspaces``/``max_runspaces``/``thread_options``/``apartment_state``/``host``, the module constants
``PROTOCOL_VERSION``, ``PS_VERSION``, ``SERIALIZATION_VERSION``; ``tests/test_prepared_pool.py`` pins that
the Create request is byte for byte ``open``'s, at one and at several fragments, and the counters after.
"""

from __future__ import annotations

import base64
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from pypsrp import powershell
from pypsrp.complex_objects import ApartmentState, HostInfo, PSThreadOptions, RunspacePoolState
from pypsrp.exceptions import InvalidRunspacePoolStateError
from pypsrp.messages import InitRunspacePool, SessionCapability
from pypsrp.powershell import Fragmenter, RunspacePool
from pypsrp.serializer import Serializer
from pypsrp.wsman import OptionSet

__all__ = ["open_pool"]


@dataclass(frozen=True)
class _Prepared:
    """One opening message, already serialised: what ``Message`` needs (its type) and its XML."""

    MESSAGE_TYPE: int
    xml: bytes


class _PreparedSerializer:
    """Hands ``Message.pack`` the prepared XML (it writes bytes from its serializer unchanged)."""

    def serialize(self, value: _Prepared) -> bytes:
        return value.xml


_cache: dict[tuple[Any, ...], tuple[_Prepared, _Prepared]] = {}
_cache_lock = threading.Lock()


def _messages(pool: RunspacePool) -> tuple[_Prepared, _Prepared]:
    key = (powershell.PROTOCOL_VERSION, powershell.PS_VERSION, powershell.SERIALIZATION_VERSION,
           pool.min_runspaces, pool.max_runspaces, pool.thread_options, pool.apartment_state)
    with _cache_lock:
        found = _cache.get(key)
    if found is not None:
        return found
    capability = SessionCapability(powershell.PROTOCOL_VERSION, powershell.PS_VERSION,
                                   powershell.SERIALIZATION_VERSION)
    init = InitRunspacePool(pool.min_runspaces, pool.max_runspaces,
                            PSThreadOptions(value=pool.thread_options),
                            ApartmentState(value=pool.apartment_state), HostInfo(host=None), None)
    prepared = (_Prepared(capability.MESSAGE_TYPE, _xml(capability)),
                _Prepared(init.MESSAGE_TYPE, _xml(init)))
    with _cache_lock:
        return _cache.setdefault(key, prepared)


def _xml(message: Any) -> bytes:
    element = Serializer().serialize(message)
    assert element is not None  # a ComplexObject always serialises to an element
    written: bytes = ET.tostring(element, encoding="utf-8", method="xml")  # as Message.pack writes it
    return written


def creation_fragments(pool: RunspacePool) -> list[bytes]:
    """``pool._fragmenter.fragment_multiple([SessionCapability, InitRunspacePool], pool.id)`` as ``open``
    calls it, from the prepared XML."""
    fragmenter = pool._fragmenter
    cutter = Fragmenter(fragmenter.max_size + 21, _PreparedSerializer())  # type: ignore[arg-type]
    cutter.max_size = fragmenter.max_size  # exactly the pool's (its constructor takes the header off)
    cutter.outgoing_counter = fragmenter.outgoing_counter
    fragments = cutter.fragment_multiple(list(_messages(pool)), pool.id)  # type: ignore[arg-type]
    fragmenter.outgoing_counter = cutter.outgoing_counter
    return fragments


def open_pool(pool: RunspacePool) -> None:
    """``pool.open()`` (pypsrp 0.9, no application arguments), its messages prepared once per run."""
    if pool.host is not None:  # host information is per pool: serialise it the stock way
        pool.open()
        return
    if pool.state == RunspacePoolState.OPENED:
        return
    if pool.state != RunspacePoolState.BEFORE_OPEN:
        raise InvalidRunspacePoolStateError(pool.state, RunspacePoolState.BEFORE_OPEN,
                                            "open a new Runspace Pool")
    fragments = creation_fragments(pool)
    open_content = ET.Element("creationXml", xmlns="http://schemas.microsoft.com/powershell")
    open_content.text = base64.b64encode(fragments.pop(0)).decode("utf-8")
    options = OptionSet()
    options.add_option("protocolversion", powershell.PROTOCOL_VERSION, {"MustComply": "true"})
    pool.shell.open(options, open_content)
    pool.state = RunspacePoolState.NEGOTIATION_SENT
    while pool.state == RunspacePoolState.NEGOTIATION_SENT:
        pool._receive()
