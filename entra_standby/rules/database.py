"""database: the sync database has room, and lives the same way on every server (probe-review §4 item 8).

SQL Server Express LocalDB, which the express install uses, is limited to 10 GB; the sync service stops when
the database is full ([PREREQ]; how-to-connect-recover-from-localdb-10gb-limit).
A standby on LocalDB behind an active on a remote SQL Server (or the reverse)
has different capacity, backup and recovery behaviour after a failover.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import FactUnavailableError
from ..facts.collection import HostFacts, PairFacts
from ..facts.model import DatabaseFacts
from ._common import Reporter
from .base import Finding, Severity, check
from .thresholds import threshold_int

_PREREQ = "https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-install-prerequisites"
_RECOVER = "https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-recover-from-localdb-10gb-limit"

LOCALDB_LIMIT_BYTES = 10 * 1024**3
"""SQL Server Express LocalDB's database size limit (10 GB, [PREREQ]), counted in binary gigabytes."""

DATABASE_REMEDIATION = (
    "keep the LocalDB data file well below 10 GB: clear old runs (Synchronization Service Manager, "
    "Operations, Clear Runs), shorten run-history retention (Set-ADSyncScheduler -PurgeRunHistoryInterval), "
    "shrink the "
    f"database as {_RECOVER} describes, or move to a full SQL Server (custom install with an existing SQL "
    f"instance); run the same kind of database on every server of the pair ({_PREREQ})"
)


def _database(server: HostFacts) -> DatabaseFacts:
    database = server.version.database
    if database is None:
        raise FactUnavailableError(server.host, "version", "no database block in the version facts")
    if database.registry_error is not None or database.is_localdb is None:
        why = database.registry_error or "ADSync\\Parameters names no Server or SQLInstance"
        raise FactUnavailableError(server.host, "version", f"database location unreadable: {why}")
    return database


def _where(database: DatabaseFacts) -> str:
    kind = "LocalDB" if database.is_localdb else "SQL Server"
    parts = [p for p in (database.server, database.sql_instance) if p]
    return f"{kind} {' '.join(parts)}, database {database.db_name or 'ADSync'}"


@check(
    "database",
    title="LocalDB data file below 80% of the 10 GB limit; the same kind of database on every server",
    severity=Severity.HIGH,
    scope="pair",
    remediation=DATABASE_REMEDIATION,
    needs=("version",),
)
def database(pair: PairFacts) -> Iterator[Finding]:
    report = Reporter("database", pair)
    databases = {server.host: _database(server) for server in pair.servers}
    warn_percent = threshold_int(pair, "localdb_warn_percent")
    for host, db in databases.items():
        if not db.is_localdb:
            continue
        if db.data_file_bytes is None:
            # The data file's path is UNCONFIRMED per build: no size, no verdict on it.
            raise FactUnavailableError(host, "version", f"LocalDB data file size unavailable: "
                                       f"{db.data_file_error or 'no data file reported'}")
        percent = 100.0 * db.data_file_bytes / LOCALDB_LIMIT_BYTES
        if percent < warn_percent:
            continue
        full = percent >= 100
        yield report(
            f"{host}: the LocalDB data file {db.data_file} is {db.data_file_bytes / 1024**3:.2f} GB, "
            f"{percent:.0f}% of the 10 GB LocalDB limit"
            + (": the database is full and the sync service stops" if full
               else f" (warning from {warn_percent}%)"),
            severity=Severity.CRITICAL if full else Severity.MEDIUM,
            values={"server": host, "data_file": db.data_file, "data_file_bytes": db.data_file_bytes,
                    "percent_of_limit": round(percent, 1), "warn_percent": warn_percent},
        )
    kinds = {host: bool(db.is_localdb) for host, db in databases.items()}
    if len(set(kinds.values())) > 1:
        active = pair.active
        listed = "; ".join(f"{host}{' (active)' if active and host == active.host else ''}: {_where(db)}"
                           for host, db in databases.items())
        yield report(
            f"the servers use different kinds of database ({listed}): capacity, backup and recovery differ "
            "after a failover",
            severity=Severity.HIGH,
            values={"localdb": kinds},
        )
