"""Evidence: save what a run gathered as JSON, and load it back to evaluate the same checks offline.

Layout of an evidence directory::

    run.json                  run metadata (time, tool version, inventory name, source) and the pairs:
                              their servers, thresholds and cloud status
    <pair>/<host>.json        one host: raw probe outputs, parsed facts (``fact_to_data``), fact errors,
                              and the host-level error when it could not be reached
    <pair>/cloud.json         the pair's cloud facts (when the pair has a ``cloud:`` block)
    <pair>/directory.json     the pair's directory facts read over LDAP, or why not (``directory:`` block)

Replay evaluates at the evidence's collection time (``PairFacts.now_utc``), so verdicts do not drift with
the clock. Evidence never holds a secret: nothing from the connection settings is written, and every
known secret is scrubbed from the text as a second line of defence.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import EntraStandbyError, EvidenceError
from .facts.collection import FactError, HostFacts, PairFacts
from .facts.model import CloudFacts
from .gather import HostRun, RunFacts, parse_outputs

if TYPE_CHECKING:
    from .directory.facts import DirectoryFacts

__all__ = ["EVIDENCE_FORMAT", "load_evidence", "read_run_metadata", "write_evidence"]

EVIDENCE_FORMAT = "entra-standby-evidence"
SCHEMA = 1
_SCRUBBED = "********"


# --- writing ---------------------------------------------------------------------------------------------


def write_evidence(directory: str | os.PathLike[str], run: RunFacts, *, secrets: Iterable[str] = (),
                   names: Mapping[str, str] | None = None) -> Path:
    """Write ``run`` under ``directory`` (created if needed); returns the path of ``run.json``. ``names``
    (address -> the inventory's display name) is kept so a replay names servers as the live run did."""
    from .facts.parse import fact_to_data

    root = Path(directory)
    hidden = [s for s in secrets if s]
    try:
        root.mkdir(parents=True, exist_ok=True)
        pairs_meta: list[dict[str, Any]] = []
        for pair in run.pairs:
            pair_dir = root / _safe(pair.name)
            pair_dir.mkdir(exist_ok=True)
            servers_meta = []
            for server in pair.servers:
                host_run = run.hosts.get((pair.name, server.host))
                doc = {
                    "pair": pair.name,
                    "host": server.host,
                    "role": server.role,
                    "collected_utc": _iso(server.collected_utc),
                    "elapsed_s": round(host_run.elapsed_s, 3) if host_run else None,
                    "host_error": _error_data(host_run.host_error) if host_run else None,
                    "raw": dict(host_run.raw) if host_run else {},
                    "facts": {domain: fact_to_data(value) for domain, value in server.values.items()},
                    "errors": {domain: _error_data(err) for domain, err in server.errors.items()},
                }
                file = pair_dir / f"{_safe(server.host)}.json"
                _write_json(file, doc, hidden)
                servers_meta.append({"host": server.host, "role": server.role,
                                     "file": file.relative_to(root).as_posix()})
                if names and names.get(server.host, server.host) != server.host:
                    servers_meta[-1]["name"] = names[server.host]
            cloud_file = None
            if pair.cloud_configured:
                cloud_path = pair_dir / "cloud.json"
                _write_json(cloud_path, {"pair": pair.name,
                                         "cloud": fact_to_data(pair.cloud) if pair.cloud else None,
                                         "cloud_error": _error_data(pair.cloud_error)}, hidden)
                cloud_file = cloud_path.relative_to(root).as_posix()
            pairs_meta.append({"name": pair.name, "thresholds": pair.thresholds, "servers": servers_meta,
                               "cloud_configured": pair.cloud_configured, "cloud_file": cloud_file})
            if pair.directory_configured:
                pairs_meta[-1].update(directory_configured=True,
                                      directory_file=_write_directory(root, pair_dir, pair, hidden))
        meta = {
            "format": EVIDENCE_FORMAT,
            "schema": SCHEMA,
            "tool": "entra-standby",
            "tool_version": run.tool_version,
            "collected_utc": _iso(run.collected_utc),
            "written_utc": _iso(datetime.now(UTC)),
            "inventory": run.inventory_name,
            "source": run.source,
            "pairs": pairs_meta,
        }
        run_file = root / "run.json"
        _write_json(run_file, meta, hidden)
    except OSError as exc:
        raise EvidenceError(f"{root}: cannot write evidence: {exc.strerror or exc}",
                            fix="pass a writable directory to --evidence") from None
    return run_file


def _write_directory(root: Path, pair_dir: Path, pair: PairFacts, hidden: list[str]) -> str:
    """``<pair>/directory.json``: the accounts read over LDAP (or why not), so a replay judges the same."""
    from .directory.evidence import directory_to_data

    path = pair_dir / "directory.json"
    _write_json(path, {"pair": pair.name,
                       "directory": directory_to_data(pair.directory) if pair.directory else None,
                       "directory_error": _error_data(pair.directory_error)}, hidden)
    return path.relative_to(root).as_posix()


def _write_json(path: Path, doc: Any, hidden: list[str]) -> None:
    text = json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False, default=_json_default)
    for secret in hidden:
        text = text.replace(secret, _SCRUBBED)
        text = text.replace(json.dumps(secret)[1:-1], _SCRUBBED)  # the JSON-escaped form too
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # pytest-xdist workers may write side by side
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


# --- reading ---------------------------------------------------------------------------------------------


def read_run_metadata(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """``run.json`` of an evidence directory, validated; raises ``EvidenceError`` (one line)."""
    root = Path(directory)
    run_file = root / "run.json"
    if not root.is_dir():
        raise EvidenceError(f"{root}: evidence directory not found",
                            fix="pass a directory written by a run with --evidence DIR")
    try:
        meta = json.loads(run_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvidenceError(f"{root}: no run.json, so this is not an evidence directory",
                            fix="pass a directory written by a run with --evidence DIR") from None
    except (OSError, ValueError) as exc:
        raise EvidenceError(f"{run_file}: unreadable evidence metadata ({exc})",
                            fix="write the evidence again with --evidence DIR") from None
    if not isinstance(meta, dict) or meta.get("format") != EVIDENCE_FORMAT:
        raise EvidenceError(f"{run_file}: not entra-standby evidence (no format: {EVIDENCE_FORMAT})",
                            fix="pass a directory written by a run with --evidence DIR")
    if meta.get("schema") != SCHEMA:
        raise EvidenceError(f"{run_file}: evidence schema {meta.get('schema')} is not supported "
                            f"(need {SCHEMA})",
                            fix="replay it with the entra-standby version that wrote it")
    return meta


def load_evidence(directory: str | os.PathLike[str], *, pairs: Iterable[str] | None = None) -> RunFacts:
    """Load an evidence directory into ``RunFacts`` (source ``replay``); ``pairs`` selects by name."""
    root = Path(directory)
    meta = read_run_metadata(root)
    wanted = set(pairs) if pairs else None
    collected = _parse_time(meta.get("collected_utc"), root / "run.json")
    pair_facts: list[PairFacts] = []
    hosts: dict[tuple[str, str], HostRun] = {}
    known = [p.get("name") for p in meta.get("pairs", [])]
    if wanted:
        missing = sorted(wanted - set(known))
        if missing:
            raise EvidenceError(f"{root}: no pair named {', '.join(missing)} in this evidence",
                                fix=f"use one of: {', '.join(str(k) for k in known)}")
    for pair_meta in meta.get("pairs", []):
        name = pair_meta["name"]
        if wanted is not None and name not in wanted:
            continue
        servers: list[HostFacts] = []
        for server_meta in pair_meta.get("servers", []):
            host_run, facts = _load_host(root, name, server_meta)
            hosts[(name, facts.host)] = host_run
            servers.append(facts)
        cloud, cloud_error = None, None
        if pair_meta.get("cloud_file"):
            cloud_path = root / pair_meta["cloud_file"]
            doc = _read_json(cloud_path)
            cloud = _cloud_from_data(doc.get("cloud"), cloud_path)
            cloud_error = _error_from_data(doc.get("cloud_error"), "cloud")
        ldap_facts, directory_error = None, None
        if pair_meta.get("directory_file"):
            directory_path = root / pair_meta["directory_file"]
            doc = _read_json(directory_path)
            ldap_facts = _directory_from_data(doc.get("directory"), directory_path)
            directory_error = _error_from_data(doc.get("directory_error"), "directory")
        pair_facts.append(PairFacts(name=name, servers=tuple(servers),
                                    thresholds=dict(pair_meta.get("thresholds") or {}),
                                    cloud=cloud, cloud_error=cloud_error,
                                    cloud_configured=bool(pair_meta.get("cloud_configured")),
                                    now_utc=collected, directory=ldap_facts, directory_error=directory_error,
                                    directory_configured=bool(pair_meta.get("directory_configured"))))
    return RunFacts(collected_utc=collected, pairs=tuple(pair_facts), hosts=hosts,
                    inventory_name=str(meta.get("inventory", "?")), source="replay",
                    tool_version=str(meta.get("tool_version", "")))


def _load_host(root: Path, pair: str, server_meta: dict[str, Any]) -> tuple[HostRun, HostFacts]:
    from .facts.parse import fact_from_data

    path = root / server_meta["file"]
    doc = _read_json(path)
    host, role = str(doc.get("host", server_meta["host"])), str(doc.get("role", server_meta["role"]))
    values: dict[str, Any] = {}
    errors: dict[str, FactError] = {}
    for domain, data in (doc.get("facts") or {}).items():
        try:
            values[domain] = fact_from_data(domain, data, host=host)
        except EntraStandbyError as exc:
            errors[domain] = FactError(domain, "evidence", f"{path}: {exc}")
        except Exception as exc:
            errors[domain] = FactError(domain, "evidence", f"{path}: facts '{domain}' unreadable ({exc})")
    raw = {k: v for k, v in (doc.get("raw") or {}).items() if isinstance(v, str)}
    # Facts missing from an older or hand-made evidence file are parsed again from their raw output.
    reparse = [d for d in raw if d not in values and d not in errors]
    if reparse:
        more_values, more_errors = parse_outputs(host, reparse, {d: raw[d] for d in reparse})
        values.update(more_values)
        errors.update(more_errors)
    for domain, err in (doc.get("errors") or {}).items():
        if domain not in values and domain not in errors:
            errors[domain] = _error_from_data(err, domain) or FactError(domain, "evidence", "unknown error")
    host_error = _error_from_data(doc.get("host_error"), "*")
    collected = _parse_time(doc.get("collected_utc"), path) if doc.get("collected_utc") else None
    facts = HostFacts(host=host, role=role, values=values, errors=errors, collected_utc=collected)
    return HostRun(pair, host, role, raw=raw, host_error=host_error,
                   elapsed_s=float(doc.get("elapsed_s") or 0.0)), facts


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvidenceError(f"{path}: missing from the evidence directory",
                            fix="copy the whole evidence directory, or write it again") from None
    except (OSError, ValueError) as exc:
        raise EvidenceError(f"{path}: unreadable evidence ({exc})",
                            fix="write it again with --evidence") from None
    if not isinstance(doc, dict):
        raise EvidenceError(f"{path}: expected a JSON object", fix="write it again with --evidence")
    return doc


# --- small conversions -----------------------------------------------------------------------------------


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: Any, where: Path) -> datetime:
    if not isinstance(value, str):
        raise EvidenceError(f"{where}: missing collection time",
                            fix="write the evidence again with --evidence")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise EvidenceError(f"{where}: bad time '{value}'", fix="write the evidence again") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _error_data(error: FactError | None) -> dict[str, str] | None:
    if error is None:
        return None
    return {"domain": error.domain, "kind": error.kind, "message": error.message}


def _error_from_data(data: Any, domain: str) -> FactError | None:
    if not isinstance(data, dict):
        return None
    return FactError(str(data.get("domain", domain)), str(data.get("kind", "unknown")),
                     str(data.get("message", "")))


def _cloud_from_data(data: Any, path: Path) -> CloudFacts | None:
    from .facts.parse import fact_from_data

    if data is None:
        return None
    try:
        cloud = fact_from_data("cloud", data, host=str(path))
    except EntraStandbyError as exc:
        raise EvidenceError(f"{path}: cloud facts unreadable: {exc}",
                            fix="write it again with --evidence") from None
    return cloud if isinstance(cloud, CloudFacts) else None


def _directory_from_data(data: Any, path: Path) -> DirectoryFacts | None:
    from .directory.evidence import directory_from_data

    return None if data is None else directory_from_data(data, path)
