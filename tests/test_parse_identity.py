"""The fast fact parser gives exactly what the generic one gave (issue 13): same facts, same error messages.

Two proofs, both against results recorded from main's parser (5f7947e, the generic type-hint walker) before
the compiled builder replaced it:

* every raw probe output stored in ``fixtures/evidence`` parses (through ``gather.parse_outputs``, the audit's
  path) into the facts and the errors stored beside it, which main wrote when it saved that evidence;
* a table of inputs, valid and malformed (``CASES``: a field missing, a wrong type deep down, null, a negative
  count, a bad GUID or date, a key twice, not JSON, ``ok: false``...), applied to one frozen healthy host
  (``fixtures/parse-identity/base-raw.json``), gives main's outcome, recorded in
  ``fixtures/parse-identity/expected-main.json``: the fact's ``repr`` (exact types: 1 vs 1.0, time zones) or
  the exception's class, message and field, for ``parse_probe_output`` and for ``parse_outputs``.

``python tests/test_parse_identity.py --record`` rewrites the expected file from the parser of the checkout
it runs in: do that only on purpose (a message changed), never to make this test pass.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from entra_standby.errors import ProbeError
from entra_standby.facts.parse import (
    _build_domain,
    _parse_datetime_full,
    fact_from_data,
    fact_to_data,
    format_datetime,
    parse_action_output,
    parse_datetime,
    parse_probe_output,
)
from entra_standby.gather import parse_outputs

ROOT = Path(__file__).resolve().parent.parent
EVIDENCE = ROOT / "fixtures" / "evidence"
BASE_FILE = ROOT / "fixtures" / "parse-identity" / "base-raw.json"
EXPECTED_FILE = ROOT / "fixtures" / "parse-identity" / "expected-main.json"
HOST = "aadc01.contoso.com"

_BASE = json.loads(BASE_FILE.read_text(encoding="utf-8"))
NOW = datetime.fromisoformat(_BASE["collected_utc"].replace("Z", "+00:00"))
_DOCS: dict[str, Any] = {probe: json.loads(raw) for probe, raw in _BASE["raw"].items()}


# --- the evidence: every stored raw output -----------------------------------------------------------------


def _host_files() -> list[Path]:
    return sorted(p for p in EVIDENCE.rglob("*.json")
                  if "raw" in (doc := json.loads(p.read_text(encoding="utf-8"))) and isinstance(doc, dict))


def test_evidence_holds_raw_outputs_of_every_scenario() -> None:
    files = _host_files()
    scenarios = {p.relative_to(EVIDENCE).parts[0] for p in files}
    assert len(scenarios) >= 20 and len(files) >= 2 * len(scenarios)
    assert sum(len(json.loads(p.read_text(encoding="utf-8"))["raw"]) for p in files) >= 400


@pytest.mark.parametrize("path", _host_files(), ids=lambda p: str(p.relative_to(EVIDENCE)))
def test_every_stored_raw_output_parses_to_the_stored_facts_and_errors(path: Path) -> None:
    saved = json.loads(path.read_text(encoding="utf-8"))
    raw: dict[str, str] = saved["raw"]
    values, errors = parse_outputs(saved["host"], list(raw), raw)
    assert {d: fact_to_data(v) for d, v in values.items()} == {d: saved["facts"][d] for d in values}
    assert set(values) | set(errors) == set(raw)
    for domain, error in errors.items():
        got = {"domain": error.domain, "kind": error.kind, "message": error.message}
        assert got == saved["errors"][domain]
    # The direct path too, with the future measured from when the evidence was taken.
    now = datetime.fromisoformat(saved["collected_utc"].replace("Z", "+00:00"))
    for domain in values:
        assert fact_to_data(parse_probe_output(saved["host"], domain, raw[domain], now=now)) == \
            saved["facts"][domain]


def _saved_facts() -> list[tuple[str, str, Any]]:
    """(file, domain, data) of every fact saved in the evidence: hosts' facts and pairs' cloud views."""
    found = []
    for path in sorted(EVIDENCE.rglob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and isinstance(doc.get("facts"), dict):
            found += [(str(path.relative_to(EVIDENCE)), d, v) for d, v in doc["facts"].items()]
        elif isinstance(doc, dict) and isinstance(doc.get("cloud"), dict):
            found.append((str(path.relative_to(EVIDENCE)), "cloud", doc["cloud"]))
    return found


def test_every_saved_fact_reads_back_and_writes_the_same_data() -> None:
    saved = _saved_facts()
    assert len(saved) >= 450 and sum(d == "cloud" for _, d, _ in saved) >= 15
    for where, domain, data in saved:
        assert fact_to_data(fact_from_data(domain, data, host=where)) == data, (where, domain)


def _format_datetime_main(value: datetime) -> str:
    """format_datetime as main wrote it (5f7947e), the reference for the fast path."""
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


@pytest.mark.parametrize("value", [
    datetime(2026, 12, 8, 0, 49, 43, 508258, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC),
    datetime(2026, 12, 8, 0, 0, 0, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(1000, 1, 1, tzinfo=UTC), datetime(999, 12, 31, 23, 59, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(2026, 12, 8, 1, 2, 3), datetime(2026, 12, 8, 1, 2, 3, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2026, 12, 8, 1, 2, 3, 4, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=timezone(timedelta(0))),
], ids=str)
def test_fast_format_datetime_writes_what_main_wrote(value: datetime) -> None:
    assert format_datetime(value) == _format_datetime_main(value)


# --- the table ---------------------------------------------------------------------------------------------

Change = Callable[[Any], None]


def _set(path: str, value: Any) -> Change:
    """Set ``path`` (dots and [i], under the envelope) to ``value``."""
    def change(doc: Any) -> None:
        *parents, last = _steps(path)
        target = doc
        for step in parents:
            target = target[step]
        target[last] = value
    return change


def _delete(path: str) -> Change:
    def change(doc: Any) -> None:
        *parents, last = _steps(path)
        target = doc
        for step in parents:
            target = target[step]
        del target[last]
    return change


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        steps.append(name)
        steps.extend(int(i) for i in rest.rstrip("]").split("][") if rest)
    return steps


def _doc(probe: str, *changes: Change) -> str:
    doc = copy.deepcopy(_DOCS[probe])
    for change in changes:
        change(doc)
    return json.dumps(doc)


def _data(probe: str, *changes: Change) -> str:
    return _doc(probe, *(_under_data(c) for c in changes))


def _under_data(change: Change) -> Change:
    return lambda doc: change(doc["data"])


_RUN0 = _DOCS["run-history"]["data"]["runs"][0]
_ACE0 = _DOCS["connectors"]["data"]["connectors"][0]["permissions"][0]["aces"][0]
_SCHED = _BASE["raw"]["scheduler"]
_FAILED = {"probe": "scheduler", "schema": 1, "ok": False, "data": None,
           "error": {"kind": "Failed", "message": "Get-ADSyncScheduler : Unable to connect"}}
_CLOUD: dict[str, Any] = {"tenant_id": "{5D4E3F2A-1B0C-4D9E-8F7A-6B5C4D3E2F1A}", "sync_enabled": True,
          "last_sync": "2026-12-08T00:30:00Z",
          "canary": {"user": "canary@contoso.com", "found": True,
                     "extension_attributes": {"extensionAttribute1": "x", "extensionAttribute2": None}}}

# (id, probe or domain, input, how): how is "probe" (parse_probe_output and parse_outputs), "probe-now"
# (parse_probe_output only: the outcome depends on NOW), "action" (parse_action_output) or "data"
# (fact_from_data, with and without NOW).
CASES: list[tuple[str, str, Any, str]] = [
    *[(f"healthy-{p}", p, _BASE["raw"][p], "probe") for p in _BASE["raw"]],
    # envelope
    ("not-a-string-bytes", "scheduler", _SCHED.encode(), "probe"),
    ("not-a-string-bytes-duplicate", "scheduler", b'{"probe":"scheduler","probe":"x"}', "probe"),
    ("not-a-string-dict", "scheduler", {"probe": "scheduler"}, "probe"),
    ("not-json-text", "scheduler", "WARNING: something {", "probe"),
    ("not-json-empty", "scheduler", "", "probe"),
    ("not-json-blank", "scheduler", "  \r\n", "probe"),
    ("not-json-trailing", "scheduler", _SCHED + " {}", "probe"),
    ("not-json-truncated", "scheduler", _SCHED[:-40], "probe"),
    ("not-json-bom", "scheduler", "\ufeff" + _SCHED, "probe"),
    ("json-leading-whitespace", "scheduler", "\r\n  " + _SCHED + "\n", "probe"),
    ("not-json-nan", "scheduler", _SCHED.replace("604800.0", "NaN"), "probe"),
    ("not-json-infinity", "scheduler", _SCHED.replace("604800.0", "-Infinity"), "probe"),
    ("not-json-nan-then-syntax", "scheduler", _SCHED.replace("604800.0", "NaN")[:-20], "probe"),
    ("not-json-syntax-then-nan", "scheduler", _SCHED.replace(":1800.0,", ":1800.0,,", 1)
     .replace("604800.0", "NaN"), "probe"),
    ("not-json-too-deep", "scheduler", "[" * 100_000 + "]" * 100_000, "probe"),
    ("not-an-object", "scheduler", "[1, 2]", "probe"),
    ("not-an-object-string", "scheduler", '"scheduler"', "probe"),
    ("wrong-probe", "scheduler", _doc("scheduler", _set("probe", "service")), "probe"),
    ("no-probe-key", "scheduler", _doc("scheduler", _delete("probe")), "probe"),
    ("wrong-schema", "scheduler", _doc("scheduler", _set("schema", 2)), "probe"),
    ("bool-schema", "scheduler", _doc("scheduler", _set("schema", True)), "probe"),
    ("float-schema", "scheduler", _doc("scheduler", _set("schema", 1.0)), "probe"),
    ("ok-not-bool", "scheduler", _doc("scheduler", _set("ok", "yes")), "probe"),
    ("ok-missing", "scheduler", _doc("scheduler", _delete("ok")), "probe"),
    ("data-null", "scheduler", _doc("scheduler", _set("data", None)), "probe"),
    ("data-list", "scheduler", _doc("scheduler", _set("data", [])), "probe"),
    ("ok-false", "scheduler", json.dumps(_FAILED), "probe"),
    ("ok-false-no-message", "scheduler", json.dumps({**_FAILED, "error": {"kind": "AccessDenied",
                                                                            "message": "  "}}), "probe"),
    ("ok-false-unknown-kind", "scheduler", json.dumps({**_FAILED, "error": {"kind": "Oops"}}), "probe"),
    ("ok-false-error-null", "scheduler", json.dumps({**_FAILED, "error": None}), "probe"),
    ("ok-false-password-sync", "password-sync",
     json.dumps({**_FAILED, "probe": "password-sync", "error": {"kind": "ConstrainedLanguage"}}), "probe"),
    ("unknown-probe", "nope", json.dumps({**_FAILED, "probe": "nope"}), "probe"),
    ("unknown-probe-duplicate", "nope", '{"probe": "nope", "probe": "nope"}', "probe"),
    # a key twice
    ("duplicate-top", "scheduler", _SCHED.replace('"schema":1', '"schema":1,"schema":1'), "probe"),
    ("duplicate-nested", "scheduler",
     _SCHED.replace('"staging_mode_enabled":', '"staging_mode_enabled":true,"staging_mode_enabled":'),
     "probe"),
    ("duplicate-two", "scheduler", _SCHED.replace('"schema":1', '"schema":1,"schema":1')
     .replace('"sync_cycle_enabled":', '"sync_cycle_enabled":true,"sync_cycle_enabled":'), "probe"),
    ("duplicate-spaced-long-key", "service",
     '{"probe":"service","schema":1,"ok":true,"data":{"' + "a  b\\t" * 20 + '":1,"'
     + "a  b\\t" * 20 + '":2}}',
     "probe"),
    ("duplicate-then-syntax", "scheduler", _SCHED.replace('"schema":1', '"schema":1,"schema":1')[:-5],
     "probe"),
    ("duplicate-and-nan", "scheduler", _SCHED.replace('"schema":1', '"schema":1,"schema":1')
     .replace("604800.0", "NaN"), "probe"),
    ("duplicate-in-ok-false", "scheduler", json.dumps(_FAILED).replace('"ok": false', '"ok": false, "ok": 1'),
     "probe"),
    ("duplicate-in-ignored-key", "service", _doc("service", _set("extra", {})).replace(
        '"extra": {}', '"extra": {"k": 1, "k": 2}'), "probe"),
    # fields
    ("missing-field", "scheduler", _data("scheduler", _delete("staging_mode_enabled")), "probe"),
    ("missing-nested", "connectors",
     _data("connectors", _delete("connectors[0].permissions[0].aces[0].access")), "probe"),
    ("missing-optional", "connectors", _data("connectors", _delete("connectors[0].account.enabled")),
     "probe"),
    ("missing-defaulted-list", "connectors", _data("connectors", _delete("connectors[1].permissions")),
     "probe"),
    ("missing-required-list", "run-history", _data("run-history", _delete("runs")), "probe"),
    ("unknown-keys-ignored", "service", _data("service", _set("newer_field", {"a": [1, None]})), "probe"),
    ("nested-wrong-type", "connectors", _data("connectors", _set("connectors[0].account.enabled", "yes")),
     "probe"),
    ("object-not-object", "connectors", _data("connectors", _set("connectors[0].account", "yes")), "probe"),
    ("list-for-object", "os", _data("os", _set("reboot", [])), "probe"),
    ("null-required", "scheduler", _data("scheduler", _set("sync_cycle_enabled", None)), "probe"),
    ("null-required-object", "config", _data("config", _set("deletion_threshold", None)), "probe"),
    ("null-required-dict", "config", _data("config", _set("features", None)), "probe"),
    ("null-optional", "scheduler", _data("scheduler", _set("sync_cycle_in_progress", None)), "probe"),
    ("null-list-item", "run-history", _data("run-history", _set("busy_connectors", [None])), "probe"),
    ("null-object-list-item", "tls", _data("tls", _set("values[1]", None)), "probe"),
    ("string-for-number", "scheduler", _data("scheduler", _set("allowed_interval_s", "00:30:00")), "probe"),
    ("bool-for-float", "scheduler", _data("scheduler", _set("allowed_interval_s", True)), "probe"),
    ("int-for-float", "scheduler", _data("scheduler", _set("allowed_interval_s", 1800)), "probe"),
    ("huge-for-float", "scheduler", _SCHED.replace("604800.0", "1e400"), "probe"),
    ("float-for-int", "os", _data("os", _set("build", 20348.5)), "probe"),
    ("whole-float-for-int", "os", _data("os", _set("build", 20348.0)), "probe"),
    ("bool-for-int", "os", _data("os", _set("ubr", True)), "probe"),
    ("string-for-int", "os", _data("os", _set("ubr", "4405")), "probe"),
    ("number-for-string", "service", _data("service", _set("status", 4)), "probe"),
    ("bool-for-string", "service", _data("service", _set("name", False)), "probe"),
    ("int-for-bool", "service", _data("service", _set("exists", 1)), "probe"),
    ("negative-interval", "scheduler", _data("scheduler", _set("effective_interval_s", -1.5)), "probe"),
    ("negative-count", "pending-exports", _data("pending-exports", _set("connectors[0].deletes", -5)),
     "probe"),
    ("negative-nullable-int", "tls", _data("tls", _set("dotnet_release", -1)), "probe"),
    ("negative-signed-registry", "tls", _data("tls", _set("values[0].value", -1)), "probe"),
    ("negative-signed-hresult", "os", _data("os", _set("updates[0].hresult", -2145124329)), "probe"),
    ("negative-event-id", "password-sync", _data("password-sync", _set("writeback_events[0].id", -1)),
     "probe"),
    ("small-build", "os", _data("os", _set("build", 5999)), "probe"),
    ("update-result-code", "os", _data("os", _set("updates[0].result_code", 9)), "probe"),
    ("update-operation", "os", _data("os", _set("updates[1].operation", 3)), "probe"),
    ("empty-computer-name", "machine", _data("machine", _set("computer_name", "  ")), "probe"),
    ("empty-connector-name", "connectors", _data("connectors", _set("connectors[1].name", "")), "probe"),
    ("empty-run-connector", "run-history", _data("run-history", _set("runs[2].connector", "\t")), "probe"),
    # GUIDs
    ("bad-guid", "run-history", _data("run-history", _set("runs[3].run_history_id", "not-a-guid")), "probe"),
    ("guid-braces-upper", "connectors",
     _data("connectors", _set("connectors[0].identifier", " {25B16DCA-E401-5412-8379-0C9A81EF432E} ")),
     "probe"),
    ("guid-n-form", "machine", _data("machine", _set("sync_machine_identifier",
                                                      "157328B632CC5B6EBB671ABFCF63ED8C")), "probe"),
    ("guid-nullable-null", "machine", _data("machine", _set("sync_machine_identifier", None)), "probe"),
    ("guid-ace-bad", "connectors",
     _data("connectors", _set("connectors[0].permissions[0].aces[2].inherited_object_type", "all")), "probe"),
    ("guid-config-bad", "config", _data("config", _set("connectors[1].identifier", "b891884f")), "probe"),
    # dates
    ("date-bad", "os", _data("os", _set("updates[0].date", "yesterday")), "probe"),
    ("date-number", "os", _data("os", _set("updates[0].date", 1700000000000)), "probe"),
    ("date-before-2000", "run-history", _data("run-history", _set("runs[0].start", "1999-12-31T23:59:59Z")),
     "probe"),
    ("date-year-one", "run-history", _data("run-history", _set("runs[0].end", "0001-01-01T00:00:00Z")),
     "probe"),
    ("date-year-one-offset", "run-history",
     _data("run-history", _set("runs[0].end", "0001-01-01T00:00:00+01:00")), "probe"),
    ("date-year-zero", "run-history", _data("run-history", _set("runs[0].end", "0000-01-01T00:00:00Z")),
     "probe"),
    ("date-month-13", "os", _data("os", _set("last_boot_utc", "2026-13-01T00:00:00Z")), "probe"),
    ("date-feb-30", "os", _data("os", _set("last_boot_utc", "2026-02-30T00:00:00Z")), "probe"),
    ("date-hour-24", "os", _data("os", _set("last_boot_utc", "2026-12-01T24:00:00Z")), "probe"),
    ("date-second-60", "os", _data("os", _set("last_boot_utc", "2026-12-01T23:59:60Z")), "probe"),
    ("date-offset-25h", "os", _data("os", _set("last_boot_utc", "2026-12-01T10:00:00+25:00")), "probe"),
    ("date-offset-minutes-99", "os", _data("os", _set("last_boot_utc", "2026-12-01T10:00:00+01:99")),
     "probe"),
    ("date-basic-format", "os", _data("os", _set("last_boot_utc", "20261201T100000Z")), "probe"),
    ("date-only", "os", _data("os", _set("last_boot_utc", "2026-12-01")), "probe"),
    ("date-no-seconds", "os", _data("os", _set("last_boot_utc", "2026-12-01T10:00Z")), "probe"),
    ("date-unicode-digits", "os",
     _data("os", _set("last_boot_utc", "\uff12\uff10\uff12\uff16-12-01T10:00:00Z")), "probe"),
    ("date-forms", "os", _data(
        "os",
        _set("last_boot_utc", "2026-12-01T10:00:00.5082580+01:00"),
        _set("updates[0].date", "2026-12-01T10:00:00"),
        _set("updates[1].date", "2026-12-01 10:00:00,25 z"),
        _set("updates[2].date", " 2026-12-01T10:00:00.1234567890123-0530 "),
        _set("updates[3].date", "2026-12-01T10:00:00.1+0100"),
        _set("hotfixes[0].installed_on", "/Date(1764550000000)/"),
        _set("hotfixes[1].installed_on", "\\/Date(1764550000123+0100)\\/"),
    ), "probe"),
    ("date-ms-before-2000", "os", _data("os", _set("hotfixes[0].installed_on", "/Date(-1000)/")), "probe"),
    ("date-ms-overflow", "os", _data("os", _set("hotfixes[0].installed_on", "/Date(99999999999999999)/")),
     "probe"),
    ("date-future", "os", _data("os", _set("last_boot_utc", "2099-01-01T00:00:00Z")), "probe"),
    ("date-future-hours", "os", _data("os", _set("last_boot_utc", (NOW + timedelta(hours=25))
                                                  .strftime("%Y-%m-%dT%H:%M:%SZ"))), "probe-now"),
    ("date-near-future-ok", "os", _data("os", _set("last_boot_utc", (NOW + timedelta(hours=23))
                                                    .strftime("%Y-%m-%dT%H:%M:%SZ"))), "probe-now"),
    ("scheduler-next-start-20-days", "scheduler",
     _data("scheduler", _set("next_start_utc", (NOW + timedelta(days=20)).isoformat())), "probe-now"),
    ("scheduler-next-start-40-days", "scheduler",
     _data("scheduler", _set("next_start_utc", (NOW + timedelta(days=40)).isoformat())), "probe-now"),
    ("certificate-years-ahead", "connectors",
     _data("connectors", _set("entra_identity", {"identity_type": "Application",
                                                 "certificate_not_after": "2060-01-01T00:00:00Z"})), "probe"),
    ("certificate-too-far", "connectors",
     _data("connectors", _set("entra_identity", {"certificate_not_after": "2299-01-01T00:00:00Z"})), "probe"),
    ("password-sync-since-bad", "password-sync", _data("password-sync", _set("since_utc", "soon")), "probe"),
    ("password-sync-event-time-future", "password-sync",
     _data("password-sync", _set("phs_events[0].time_utc", "2099-01-01T00:00:00Z")), "probe"),
    # PS 5.1 unrolled collections and comma lists
    ("unrolled-null-lists", "machine", _data("machine", _set("adsynctools_versions", None),
                                             _set("proxy.bypass_list", None)), "probe"),
    ("unrolled-bare-elements", "run-history",
     _data("run-history", _set("runs", _RUN0), _set("busy_connectors", "contoso.com")), "probe"),
    ("unrolled-bare-ace", "connectors",
     _data("connectors", _set("connectors[0].permissions[0].aces", _ACE0)), "probe"),
    ("object-for-list", "tls", _data("tls", _set("values", {})), "probe"),
    ("number-for-object-list", "tls", _data("tls", _set("values", 5)), "probe"),
    ("bool-for-string-list", "machine", _data("machine", _set("adsynctools_versions", True)), "probe"),
    ("lone-element-missing-field", "run-history",
     _data("run-history", _set("runs", {k: v for k, v in _RUN0.items() if k != "connector"})), "probe"),
    ("lone-element-wrong-type", "connectors",
     _data("connectors", _set("connectors[0].permissions[0].aces", {**_ACE0, "inherited": "no"})), "probe"),
    ("rights-flag-text", "connectors",
     _data("connectors",
           _set("connectors[0].permissions[0].aces[0].rights", " ReadProperty, WriteProperty,")),
     "probe"),
    ("rights-flag-text-empty", "connectors",
     _data("connectors", _set("connectors[0].permissions[0].aces[0].rights", " , ")), "probe"),
    ("rights-number", "connectors",
     _data("connectors", _set("connectors[0].permissions[0].aces[0].rights", [16, "x"])), "probe"),
    ("comma-text-elsewhere-is-one-item", "machine",
     _data("machine", _set("adsynctools_versions", "2.4.0, 2.3.0")), "probe"),
    ("tuple-item-wrong-deep", "config",
     _data("config", _set("connectors[1].partitions[0].object_classes[2]", {"x": 1})), "probe"),
    # mappings
    ("features-not-bool", "config", _data("config", _set("features.group_writeback", "False")), "probe"),
    ("features-null-value", "config", _data("config", _set("features.group_writeback", None)), "probe"),
    ("features-list", "config", _data("config", _set("features", [])), "probe"),
    ("features-empty-key", "config", _data("config", _set("features", {"": 1})), "probe"),
    ("global-settings-number", "config", _data("config", _set("global_settings", {"Microsoft.X": 5})),
     "probe"),
    ("company-features-null", "config", _data("config", _set("company_features", None)), "probe"),
    ("rule-soft-delete-negative", "config",
     _data("config", _set("rules[1].soft_delete_expiry_interval_s", -1)),
     "probe"),
    ("deletion-threshold-percent-float", "config",
     _data("config", _set("deletion_threshold.percentage", 2.5)), "probe"),
    # actions and plain data (evidence, cloud)
    ("action-ok", "Set-StagingMode", _doc("scheduler", _set("action", "Set-StagingMode"), _delete("probe")),
     "action"),
    ("action-wrong-name", "Set-StagingMode", _SCHED, "action"),
    ("action-busy", "Start-SyncCycle", json.dumps({"action": "Start-SyncCycle", "schema": 1, "ok": False,
                                                   "error": {"kind": "Busy", "message": "a cycle runs"}}),
     "action"),
    ("action-future", "Start-SyncCycle",
     _doc("scheduler", _set("action", "Start-SyncCycle"),
          _set("data.next_start_utc", "2099-01-01T00:00:00Z")),
     "action"),
    ("data-cloud", "cloud", _CLOUD, "data"),
    ("data-cloud-tenant-name", "cloud", {**_CLOUD, "tenant_id": "contoso.onmicrosoft.com"}, "data"),
    ("data-cloud-bad-attributes", "cloud",
     {**_CLOUD, "canary": {**_CLOUD["canary"], "extension_attributes": {"extensionAttribute1": 1}}}, "data"),
    ("data-cloud-future", "cloud", {**_CLOUD, "last_sync": "2099-01-01T00:00:00Z"}, "data"),
    ("data-not-mapping", "os", ["x"], "data"),
    ("data-unknown-domain", "nope", {}, "data"),
    ("data-os", "os", _DOCS["os"]["data"], "data"),
]


def _outcome(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        fact = call()
    except Exception as exc:
        return {"raises": type(exc).__name__, "message": str(exc), "field": getattr(exc, "field", None),
                "error_kind": getattr(exc, "error_kind", None)}
    return {"fact": repr(fact)}


def _gather_outcome(host: str, probe: str, raw: Any) -> dict[str, Any]:
    try:
        values, errors = parse_outputs(host, [probe], {probe: raw})
    except Exception as exc:
        return {"raises": f"{type(exc).__name__}: {exc}"}
    return {"values": {d: repr(v) for d, v in values.items()},
            "errors": {d: [e.kind, e.message] for d, e in errors.items()}}


def outcomes(case: tuple[str, str, Any, str]) -> dict[str, Any]:
    """What the parser of this checkout makes of one case, in a JSON-ready form."""
    _, name, value, how = case
    if how == "action":
        return {"direct": _outcome(lambda: parse_action_output(HOST, name, value, now=NOW))}
    if how == "data":
        return {"direct": _outcome(lambda: fact_from_data(name, value, host=HOST, now=NOW)),
                "replay": _outcome(lambda: fact_from_data(name, value))}
    result = {"direct": _outcome(lambda: parse_probe_output(HOST, name, value, now=NOW))}
    if how == "probe":  # parse_outputs measures the future from the real clock: only NOW-free cases
        result["gather"] = _gather_outcome(HOST, name, value)
    return result


def _expected() -> dict[str, Any]:
    recorded: dict[str, Any] = json.loads(EXPECTED_FILE.read_text(encoding="utf-8"))
    return recorded


def test_the_table_is_the_recorded_one() -> None:
    assert [c[0] for c in CASES] == list(_expected()["cases"])
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_case_gives_mains_outcome(case: tuple[str, str, Any, str]) -> None:
    expected = _expected()["cases"][case[0]]
    assert outcomes(case) == expected


def test_the_table_really_fails_and_succeeds_in_many_ways() -> None:
    direct = [o["direct"] for o in _expected()["cases"].values()]
    messages = {o["message"] for o in direct if "raises" in o}
    fields = {o["field"] for o in direct if o.get("field")}
    assert len(messages) >= 90 and len(fields) >= 50
    assert sum("fact" in o for o in direct) >= 25
    gathered = [o["gather"] for o in _expected()["cases"].values() if "gather" in o]
    assert sum("twice (which one is true?)" in str(g.get("errors")) for g in gathered) >= 5
    # A dict where text belongs: main's parse_outputs raised TypeError; since f06fac6, that probe's error.
    assert not any("raises" in g for g in gathered)


# --- dates: the fast path agrees with the full parser ------------------------------------------------------

_DATE_TEXTS = [
    "2026-12-08T00:49:43.5082580Z", "2026-12-08T00:49:43Z", "2026-12-08T00:49:43.5Z",
    "2026-12-08T00:49:43.123456Z",
    "2026-12-08T00:49:43.1234567+01:00", "2026-12-08T00:49:43.1234567-05:30", "2026-12-08T00:49:43+00:00",
    "2026-12-08T00:49:43.0000000Z", "2026-12-08T00:49:43.9999999Z", "2026-12-31T23:59:59.9999999-14:00",
    "9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.9999999-01:00", "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00.0000000+01:00", "2026-12-08T24:00:00Z", "2026-12-08T23:60:00Z",
    "2026-12-08T23:59:60Z",
    "2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "2026-00-10T00:00:00Z", "2026-12-00T00:00:00Z",
    "2026-12-08T00:49:43+24:00", "2026-12-08T00:49:43+23:59", "2026-12-08T00:49:43-00:60",
    "2026-12-08T00:49:43.Z", "2026-12-08T00:49:43.12345678Z", "2026-12-08t00:49:43z", "2026-12-08 00:49:43Z",
    "2026-12-08T00:49:43", "2026-12-08T00:49:43+0100", "2026-12-08T00:49:43 Z", " 2026-12-08T00:49:43Z\n",
    "2026-12-08T00:49:43,5Z", "2026-12-08T00:49:43.5082580Z\n", "2026-12-08T00:49:43.5082580ZZ",
    "/Date(1764550000000)/", "\\/Date(1764550000000)\\/", "/Date(-1)/", "/Date(1764550000000-0800)/",
    "/Date(99999999999999999)/", "/Date()/", "", " ", "x", "2026-12-08T00:49:43.5082580z",
    "2026-12-08T00:49:43+01", "2026-12-08T00:49:43.5082580+01:00:00", "+2026-12-08T00:49:43Z",
    "2026-12-08T00:49:43\u00a0Z", "\u00a02026-12-08T00:49:43Z", "2026-1-08T00:49:43Z",
    "2026-12-08T00:49:43.\u0665Z", "\u0662\u0660\u0662\u0666-12-08T00:49:43Z",
]


def _date_outcome(parse: Callable[[str], datetime], text: str) -> tuple[str, str]:
    try:
        value = parse(text)
    except (ValueError, OverflowError) as exc:
        return type(exc).__name__, str(exc)
    assert value.tzinfo is UTC
    return "ok", repr(value)


@pytest.mark.parametrize("text", _DATE_TEXTS)
def test_fast_datetime_agrees_with_the_full_parser(text: str) -> None:
    assert _date_outcome(parse_datetime, text) == _date_outcome(_parse_datetime_full, text)


def test_the_date_table_has_both_outcomes() -> None:
    kinds = [_date_outcome(_parse_datetime_full, t)[0] for t in _DATE_TEXTS]
    assert kinds.count("ok") >= 20 and kinds.count("ValueError") >= 15


# --- types the model does not use: still refused only when a value meets them, in main's words -------------


@dataclasses.dataclass(frozen=True)
class Odd:
    a: int
    b: int | str | None = None
    c: tuple[int, str] | None = None
    d: dict[int, str] | None = None
    e: set[str] | None = None
    f: str | None = None


_ODD_CASES: dict[str, Any] = {
    "ok": {"a": 1}, "union": {"a": 1, "b": 2}, "union-null": {"a": 1, "b": None},
    "tuple": {"a": 1, "c": [1, "x"]}, "tuple-null": {"a": 1, "c": None},
    "dict": {"a": 1, "d": {"1": "x"}}, "dict-null": {"a": 1, "d": None}, "set": {"a": 1, "e": ["x"]},
    "set-null": {"a": 1, "e": None}, "f-null": {"a": 1, "f": None}, "a-null": {"a": None}, "a-neg": {"a": -3},
    "a-str": {"a": "1"}, "not-object": [],
}
# Recorded with main's parser (facts.parse._build_domain at 5f7947e), without the fix every one carries.
_FIX = " (fix: the probe answer does not follow docs/contracts.md; keep the evidence and report it)"
_ODD_MAIN: dict[str, str] = {
    "ok": "Odd(a=1, b=None, c=None, d=None, e=None, f=None)",
    "union": "ProbeError: h: probe odd, field b: unsupported union type int | str | None field=b",
    "union-null": "Odd(a=1, b=None, c=None, d=None, e=None, f=None)",
    "tuple": "ProbeError: h: probe odd, field c: unsupported tuple type tuple[int, str] field=c",
    "tuple-null": "Odd(a=1, b=None, c=None, d=None, e=None, f=None)",
    "dict": "ProbeError: h: probe odd, field d: unsupported mapping type dict[int, str] field=d",
    "dict-null": "Odd(a=1, b=None, c=None, d=None, e=None, f=None)",
    "set": "ProbeError: h: probe odd, field e: unsupported field type set[str] field=e",
    "set-null": "Odd(a=1, b=None, c=None, d=None, e=None, f=None)",
    "f-null": "Odd(a=1, b=None, c=None, d=None, e=None, f=None)",
    "a-null": "ProbeError: h: probe odd, field a: must not be null field=a",
    "a-neg": "ProbeError: h: probe odd, field a: must not be negative, got -3 field=a",
    "a-str": "ProbeError: h: probe odd, field a: expected an integer, got string '1' field=a",
    "not-object": "ProbeError: h: probe odd: expected an object, got a list of 0 field=None",
}


@pytest.mark.parametrize("case", list(_ODD_CASES))
def test_unsupported_types_fail_lazily_as_on_main(case: str) -> None:
    try:
        got = repr(_build_domain("h", "odd", Odd, _ODD_CASES[case], NOW, True)).replace(f"{__name__}.", "")
    except ProbeError as exc:
        got = f"{type(exc).__name__}: {exc} field={exc.field}".replace(_FIX, "")
    assert got == _ODD_MAIN[case]


@dataclasses.dataclass(frozen=True)
class Node:
    name: str
    children: tuple[Node, ...] = ()
    parent: Node | None = None


_NODE_CASES: dict[str, Any] = {
    "tree": {"name": "a", "children": [{"name": "b", "children": [{"name": "c", "children": None}]}],
             "parent": {"name": "p", "children": []}},
    "deep-missing": {"name": "a", "children": [{"name": "b", "children": [{"children": []}]}]},
    "parent-wrong": {"name": "a", "children": [], "parent": {"name": 1, "children": []}},
}
_NODE_MAIN: dict[str, str] = {  # recorded with main's parser, like _ODD_MAIN
    "tree": "Node(name='a', children=(Node(name='b', children=(Node(name='c', children=(), parent=None),), "
            "parent=None),), parent=Node(name='p', children=(), parent=None))",
    "deep-missing": "ProbeError: h: probe node, field children[0].children[0].name: missing field "
                    "field=children[0].children[0].name",
    "parent-wrong": "ProbeError: h: probe node, field parent.name: expected a string, got number 1 "
                    "field=parent.name",
}


@pytest.mark.parametrize("case", list(_NODE_CASES))
def test_a_class_that_contains_itself_builds_as_on_main(case: str) -> None:
    try:
        got = repr(_build_domain("h", "node", Node, _NODE_CASES[case], NOW, True)).replace(f"{__name__}.", "")
    except ProbeError as exc:
        got = f"{type(exc).__name__}: {exc} field={exc.field}".replace(_FIX, "")
    assert got == _NODE_MAIN[case]


# --- compiled once, by whichever host thread comes first -------------------------------------------------


def test_builders_compiled_by_many_threads_at_once_give_the_same_facts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from entra_standby.facts import parse

    expected = {p: repr(parse_probe_output(HOST, p, raw, now=NOW)) for p, raw in _BASE["raw"].items()}
    monkeypatch.setattr(parse, "_DATACLASS_BUILDERS", {})
    monkeypatch.setattr(parse, "_BUILDERS", {})
    start = threading.Barrier(8)

    def one() -> dict[str, str]:
        start.wait()
        return {p: repr(parse_probe_output(HOST, p, raw, now=NOW)) for p, raw in _BASE["raw"].items()}

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: one(), range(8)))
    assert all(r == expected for r in results)
    assert len(parse._DATACLASS_BUILDERS) >= 35  # the host's fact classes were compiled again


def _record() -> None:
    cases = {case[0]: outcomes(case) for case in CASES}
    EXPECTED_FILE.write_text(json.dumps({"recorded_from": sys.argv[2] if len(sys.argv) > 2 else "?",
                                         "now": NOW.isoformat(), "cases": cases},
                                        indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {EXPECTED_FILE}")


if __name__ == "__main__":
    if sys.argv[1:2] != ["--record"]:
        sys.exit("usage: python tests/test_parse_identity.py --record SOURCE "
                 "(rewrites the expected outcomes)")
    _record()
