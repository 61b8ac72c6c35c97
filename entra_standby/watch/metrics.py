"""Prometheus metrics of the latest polls, written with prometheus_client (exposition format 0.0.4).

``WatchCollector`` renders whatever ``views()`` returns at scrape time, so ages ("seconds since") are as
of the scrape, not of the poll. Unknown values are left out rather than given as 0 (a missing sample
never fires a ``== 0`` alert by accident); the pair's ``entra_standby_pair_unknown_flag_servers`` says why.
The metric names and labels are documented in docs/monitoring.md; ci/monitoring/alerts.yml uses them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..errors import EntraStandbyError
from ..results import Outcome
from .status import PairView, Verdict

__all__ = ["WatchCollector", "metrics_text", "registry_for", "write_textfile"]

PREFIX = "entra_standby"


def _age(now: datetime, moment: datetime | None) -> float:
    if moment is None:
        return math.inf  # runs of this kind exist, none succeeded: older than anything
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return max(0.0, (now - aware).total_seconds())


class WatchCollector(Collector):
    """Every pair's latest view as Prometheus gauges; ``health()`` adds the watcher's own state."""

    def __init__(self, views: Callable[[], Sequence[PairView | None]],
                 pair_names: Sequence[str], clock: Callable[[], datetime] | None = None) -> None:
        self._views = views
        self._pair_names = list(pair_names)
        self._clock = clock or (lambda: datetime.now(UTC))

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        views = [v for v in self._views() if v is not None]
        seen = {v.name for v in views}

        def gauge(name: str, doc: str, labels: Sequence[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=list(labels))

        polled = gauge("pair_polled", "1 once the pair has been polled since the watcher started", ["pair"])
        for name in self._pair_names:
            polled.add_metric([name], 1.0 if name in seen else 0.0)
        unstaged = gauge("pair_unstaged_servers", "Servers of the pair known to be out of staging mode "
                         "(exporting); 1 is healthy, 2 or more is split brain, 0 nobody exports", ["pair"])
        unknown = gauge("pair_unknown_flag_servers",
                        "Servers whose staging flag the last poll could not read", ["pair"])
        verdict = gauge("pair_verdict", "1 for the pair's current verdict from the watched checks "
                        "(ready, not_ready, unknown), 0 for the others", ["pair", "verdict"])
        condition = gauge("pair_condition", "1 while a named condition holds (split_brain, no_exporter, "
                          "returned_active), with its severity", ["pair", "condition", "severity"])
        check = gauge("check_state", "1 for each watched check's current outcome on its target (server and "
                      "host are empty for a pair-scoped check), 0 for the other outcomes",
                      ["pair", "check", "server", "host", "severity", "state"])
        poll_ts = gauge("poll_timestamp_seconds", "When the last poll of the pair started (Unix time)",
                        ["pair"])
        poll_dur = gauge("poll_duration_seconds", "How long the last poll of the pair took", ["pair"])
        poll_complete = gauge("poll_complete", "1 when every host of the last poll answered within the "
                              "deadline", ["pair"])
        info = gauge("server_info", "The server's role in the inventory (always 1)",
                     ["pair", "server", "host", "role"])
        reachable = gauge("server_reachable", "1 when the last poll reached the server and read its facts",
                          ["pair", "server", "host", "role"])
        staging = gauge("server_staging_enabled",
                        "1 staged (not exporting), 0 un-staged (exporting); absent when unknown",
                        ["pair", "server", "host", "role"])
        ages = gauge("server_last_success_age_seconds", "Seconds since the newest successful run of a kind "
                     "(import, sync, export) on a connector; +Inf when its history holds only failed runs",
                     ["pair", "server", "host", "role", "connector", "kind"])
        pending = gauge("server_pending_exports", "Pending export operations per connector and kind (adds, "
                        "updates, deletes), as the last poll read them",
                        ["pair", "server", "host", "role", "connector", "kind"])
        tenant_age = gauge("tenant_last_sync_age_seconds",
                           "Seconds since the tenant last received a sync from on-premises (Graph "
                           "onPremisesLastSyncDateTime)", ["pair", "tenant"])
        tenant_on = gauge("tenant_sync_enabled", "1 when the tenant has directory synchronization enabled",
                          ["pair", "tenant"])

        for view in views:
            p = view.name
            unstaged.add_metric([p], float(view.unstaged))
            unknown.add_metric([p], float(view.unknown_flags))
            for option in Verdict:
                verdict.add_metric([p, option.value], 1.0 if view.verdict is option else 0.0)
            for cond in view.conditions:
                condition.add_metric([p, cond.name, cond.severity], 1.0)
            for result in view.results:
                for outcome in Outcome:
                    name = view.names.get(result.host, result.host) if result.host else ""
                    check.add_metric([p, result.check_id, name, result.host or "", str(result.severity),
                                      outcome.value], 1.0 if result.outcome is outcome else 0.0)
            poll_ts.add_metric([p], view.polled_utc.timestamp())
            poll_dur.add_metric([p], view.elapsed_s)
            poll_complete.add_metric([p], 1.0 if view.complete else 0.0)
            for server in view.servers:
                key = [p, server.name, server.host, server.role]
                info.add_metric(key, 1.0)
                reachable.add_metric(key, 1.0 if server.reachable else 0.0)
                if server.staging_enabled is not None:
                    staging.add_metric(key, 1.0 if server.staging_enabled else 0.0)
                for (connector, kind), moment in sorted(server.last_success.items()):
                    ages.add_metric([*key, connector, kind], _age(now, moment))
                for (connector, kind), count in sorted(server.pending.items()):
                    pending.add_metric([*key, connector, kind], float(count))
            if view.tenant_id is not None:
                if view.tenant_last_sync is not None:
                    tenant_age.add_metric([p, view.tenant_id], _age(now, view.tenant_last_sync))
                if view.tenant_sync_enabled is not None:
                    tenant_on.add_metric([p, view.tenant_id], 1.0 if view.tenant_sync_enabled else 0.0)
        yield from (polled, unstaged, unknown, verdict, condition, check, poll_ts, poll_dur, poll_complete,
                    info, reachable, staging, ages, pending, tenant_age, tenant_on)


def registry_for(collector: Collector) -> CollectorRegistry:
    """A registry with only the watch's metrics (no process metrics: they say nothing about the pair)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def metrics_text(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def write_textfile(path: Path, registry: CollectorRegistry) -> None:
    """Write the metrics for node_exporter's textfile collector atomically: a temporary file in the same
    directory, then rename, so the collector never reads half a file."""
    if path.suffix != ".prom":
        raise EntraStandbyError(f"--prometheus-textfile {path}: node_exporter's textfile collector reads "
                                "only files ending in .prom", fix=f"use {path.with_suffix('.prom')}")
    if not path.parent.is_dir():
        raise EntraStandbyError(f"--prometheus-textfile {path}: directory {path.parent} does not exist",
                                fix="point it at node_exporter's --collector.textfile.directory")
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")  # a dot file: the collector skips it
    try:
        with open(partial, "wb") as handle:
            handle.write(metrics_text(registry))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise EntraStandbyError(f"--prometheus-textfile {path}: cannot write ({exc.strerror})",
                                fix="check the directory's permissions") from None
