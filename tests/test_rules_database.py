"""database (issue 16 point 7): LocalDB data file against the 10 GB limit; the same kind of database on both
servers."""

from __future__ import annotations

from typing import Any

import pytest
from factbuilders import change, healthy_pair, run

from entra_standby.errors import FactUnavailableError
from entra_standby.facts.model import DatabaseFacts
from entra_standby.rules import Severity

GB = 1024**3
MDF = "C:\\Program Files\\Microsoft Azure AD Sync\\Data\\ADSync2019\\ADSync.mdf"


def _localdb(size: int | None, **more: object) -> DatabaseFacts:
    fields: dict[str, Any] = {"server": "(localdb)", "sql_instance": ".\\ADSync2019", "db_name": "ADSync",
                    "data_file": MDF if size is not None else None, "data_file_bytes": size, **more}
    return DatabaseFacts(**fields)


REMOTE = DatabaseFacts("sql01.contoso.com", "ADSYNC", "ADSync")


def test_localdb_on_both_well_below_the_limit_passes() -> None:
    assert run("database", healthy_pair()) == []


def test_remote_sql_on_both_passes_without_a_size() -> None:
    pair = change(healthy_pair(), "aadc01", "version", database=REMOTE)
    assert run("database", change(pair, "aadc02", "version", database=REMOTE)) == []


def test_from_80_percent_is_medium_and_names_the_file() -> None:
    pair = change(healthy_pair(), "aadc01", "version", database=_localdb(int(8.5 * GB)))
    [finding] = run("database", pair)
    assert finding.severity is Severity.MEDIUM
    assert f"aadc01: the LocalDB data file {MDF} is 8.50 GB, 85% of the 10 GB LocalDB limit" in \
        finding.message
    assert finding.values["warn_percent"] == 80 and finding.values["percent_of_limit"] == 85.0
    assert "PurgeRunHistoryInterval" in finding.remediation


def test_just_below_the_warning_passes_and_the_threshold_moves_it() -> None:
    pair = change(healthy_pair(), "aadc01", "version", database=_localdb(int(7.9 * GB)))
    assert run("database", pair) == []
    lowered = change(healthy_pair(thresholds={"localdb_warn_percent": 70}), "aadc01", "version",
                     database=_localdb(int(7.9 * GB)))
    assert len(run("database", lowered)) == 1


def test_a_full_database_is_critical() -> None:
    pair = change(healthy_pair(), "aadc02", "version", database=_localdb(10 * GB))
    [finding] = run("database", pair)
    assert finding.severity is Severity.CRITICAL and "the database is full" in finding.message


def test_localdb_against_remote_sql_is_high_and_lists_both() -> None:
    pair = change(healthy_pair(), "aadc02", "version", database=REMOTE)
    [finding] = run("database", pair)
    assert finding.severity is Severity.HIGH
    assert ("aadc01 (active): LocalDB (localdb) .\\ADSync2019, database ADSync; "
            "aadc02: SQL Server sql01.contoso.com ADSYNC, database ADSync") in finding.message
    assert finding.values["localdb"] == {"aadc01": True, "aadc02": False}


def test_localdb_named_in_server_alone_is_localdb_too() -> None:
    """The other registry shape: "(localdb)\\.\\ADSync2019" in Server, SQLInstance empty."""
    shape = DatabaseFacts("(localdb)\\.\\ADSync2019", None, "ADSync", MDF, GB)
    assert shape.is_localdb is True
    assert run("database", change(healthy_pair(), "aadc02", "version", database=shape)) == []


def test_unreadable_location_or_size_is_no_verdict() -> None:
    unread = DatabaseFacts(registry_error="Failed: denied")
    pair = change(healthy_pair(), "aadc02", "version", database=unread)
    with pytest.raises(FactUnavailableError, match="database location unreadable: Failed: denied"):
        run("database", pair)
    pair = change(healthy_pair(), "aadc02", "version",
                  database=_localdb(None, data_file_error="no LocalDB data file found; looked at X"))
    with pytest.raises(FactUnavailableError, match="LocalDB data file size unavailable: no LocalDB data"):
        run("database", pair)
    with pytest.raises(FactUnavailableError, match="no database block"):
        run("database", change(healthy_pair(), "aadc02", "version", database=None))
