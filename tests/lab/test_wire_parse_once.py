"""The lab parses one CreatePipeline body once per process and still answers each host as itself."""

from __future__ import annotations

from pathlib import Path

from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab
from entra_standby.lab.wire import shells
from entra_standby.remoting import HostSession, probe_calls

SCENARIOS = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"


def test_the_same_batch_is_parsed_once_and_each_host_answers_for_itself() -> None:
    shells._parsed_pipelines = shells._ParsedPipelines()
    calls = probe_calls(["version", "scheduler"])
    outputs = []
    with Lab(SCENARIOS / "healthy-pair.yml", cloud=False) as lab:
        inventory = inventory_from_dict(lab.inventory_dict(), path=SCENARIOS / "lab.yml")
        for server in inventory.pairs[0].servers:
            with HostSession(server) as session:
                outputs.append(session.run_probes(calls))
            assert len(shells._parsed_pipelines._items) == 1  # the second host reused the first's parse
        other = probe_calls(["version"])
        with HostSession(inventory.pairs[0].servers[0]) as session:
            alone = session.run_probes(other)
    assert len(shells._parsed_pipelines._items) == 2  # another batch: its own parse
    assert all(isinstance(v, str) and '"ok":true' in v for out in outputs for v in out.values()), outputs
    first, second = outputs
    assert first["scheduler"] != second["scheduler"]  # active vs staging: each its own, not a cached answer
    assert alone["version"] == first["version"]


def test_the_cache_is_bounded() -> None:
    cache = shells._ParsedPipelines(limit=2)
    for n in range(5):
        cache.put((bytes([n]), "c"), n)
    assert len(cache._items) == 2 and cache.get((b"\x04", "c")) == 4 and cache.get((b"\x00", "c")) is None


def test_many_hosts_sending_a_new_batch_at_once_parse_it_once() -> None:
    """Single flight: the first audit after start sends 100 identical new bodies at once."""
    import threading
    import time

    cache = shells._ParsedPipelines()
    built: list[int] = []
    start = threading.Event()

    def build() -> object:
        built.append(1)
        time.sleep(0.1)  # a slow parse: the others arrive meanwhile
        return ("parsed", len(built))

    results: list[object] = []
    lock = threading.Lock()

    def host() -> None:
        start.wait()
        value = cache.get_or_build((b"body", "cap"), build)
        with lock:
            results.append(value)

    threads = [threading.Thread(target=host) for _ in range(20)]
    for thread in threads:
        thread.start()
    start.set()
    for thread in threads:
        thread.join(10)
    assert len(built) == 1 and results == [("parsed", 1)] * 20
    assert cache.get_or_build((b"other", "cap"), lambda: None) is None  # not a pipeline: not cached
    assert cache.get((b"other", "cap")) is None and cache._building == {}
