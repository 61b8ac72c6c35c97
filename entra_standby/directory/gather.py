"""One pair's directory facts: which accounts and objects to read comes from the servers' probes.

The sync servers' ``connectors`` facts name each AD connector's account (the probe still reports that);
the objects are the domain roots and synced OUs the probe listed, or, when its AD reads failed (double hop),
the selected partitions and OU inclusions of the server's ``config`` facts; only those in the block's domain.
Never raises: a failure is the pair's ``directory_error``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..facts.collection import FactError, HostFacts
from .config import DirectoryConfig
from .errors import DirectoryError
from .facts import DirectoryFacts, account_key


def wanted(servers: Sequence[HostFacts], config: DirectoryConfig) -> tuple[list[tuple[str, str | None]],
                                                                          list[tuple[str, str]]]:
    """(account user, domain) of every AD connector of ``servers``, and the (dn, scope) objects to read."""
    accounts, objects, _ = _wanted(servers, config)
    return accounts, objects


def _wanted(servers: Sequence[HostFacts], config: DirectoryConfig) -> tuple[
        list[tuple[str, str | None]], list[tuple[str, str]], dict[tuple[str, str], set[str]]]:
    """``wanted``, and per account the DNs its own connectors sync (lower case)."""
    accounts: list[tuple[str, str | None]] = []
    objects: dict[str, tuple[str, str]] = {config.base_dn.lower(): (config.base_dn, "domain-root")}
    own: dict[tuple[str, str], set[str]] = {}
    for server in servers:
        if not server.has("connectors"):
            continue
        partitions = {}
        if server.has("config"):
            partitions = {c.name.lower(): c.partitions for c in server.config.connectors}
        for conn in server.connectors.connectors:
            if conn.type.upper() != "AD" or not conn.account_user:
                continue
            accounts.append((conn.account_user, conn.account_domain))
            key = account_key(conn.account_user, conn.account_domain)
            mine = own.setdefault(key, {config.base_dn.lower()})
            listed = [(o.object_dn, o.scope) for o in conn.permissions]
            if not listed:
                for partition in partitions.get(conn.name.lower(), ()):
                    if partition.selected and partition.name.upper().startswith("DC="):
                        listed.append((partition.name, "domain-root"))
                        listed.extend((ou, "ou") for ou in partition.inclusions
                                      if ou.lower() != partition.name.lower())
            for dn, scope in listed:
                # Objects of other domains are not on this block's DCs (one domain per pair is read).
                if dn.lower().endswith(config.base_dn.lower()):
                    objects.setdefault(dn.lower(), (dn, scope))
                    mine.add(dn.lower())
    return accounts, list(objects.values()), own


def gather_directory(config: DirectoryConfig,
                     servers: Sequence[HostFacts]) -> tuple[DirectoryFacts | None, FactError | None]:
    from .read import read_directory

    accounts, objects, own = _wanted(servers, config)
    try:
        facts = read_directory(config, accounts, objects)
    except DirectoryError as exc:
        return None, FactError("directory", exc.kind, str(exc))
    except Exception as exc:  # one pair's directory must never stop the run
        return None, FactError("directory", "ldap",
                               f"directory read failed ({type(exc).__name__}: {exc})")
    # One read serves the pair, but each account is judged on the objects its own server syncs, as the
    # probe's in-session read is: the standby's account needs no rights on an OU only the active syncs.
    return replace(facts, accounts=tuple(
        replace(a, permissions=tuple(o for o in a.permissions if o.object_dn.lower() in own.get(a.key, ())))
        for a in facts.accounts)), None
