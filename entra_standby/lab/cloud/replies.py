"""HTTP answers of the stand-in and the two error envelopes it speaks (identity platform, Graph)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    client_id: str | None = None  # for the request log


def entra_error(status: int, error: str, code: int, description: str, *, base_url: str,
                headers: dict[str, str] | None = None) -> Reply:
    """The identity platform's error body: ``AADSTSnnn: text`` + Trace/Correlation/Timestamp lines."""
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    timestamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return Reply(status, {
        "error": error,
        "error_description": (f"AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\n"
                              f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{base_url}/error?code={code}",
    }, dict(headers or {}))


def graph_error(status: int, code: str, message: str, *, client_request_id: str | None = None,
                headers: dict[str, str] | None = None) -> Reply:
    """Graph's error body: ``{"error": {"code", "message", "innerError": {...}}}``."""
    return Reply(status, {"error": {
        "code": code,
        "message": message,
        "innerError": {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": str(uuid.uuid4()),
            "client-request-id": client_request_id or str(uuid.uuid4()),
        },
    }}, dict(headers or {}))


def graph_time(value: datetime | None) -> str | None:
    """Graph's DateTimeOffset form: ``2026-01-01T10:00:00Z``."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
