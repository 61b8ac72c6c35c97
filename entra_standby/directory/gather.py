"""One pair's directory facts: which accounts and objects to read comes from the servers' probes.

The sync servers' ``connectors`` facts name each AD connector's account (the probe still reports that);
the objects are the domain roots and synced OUs the probe listed, or, when its AD reads failed (double hop),
the selected partitions and OU inclusions of the server's ``config`` facts; only those in the block's domain.
Never raises: a failure is the pair's ``directory_error``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from ..facts.collection import FactError, HostFacts
from .config import DirectoryConfig
from .errors import DirectoryError
from .facts import DirectoryFacts, account_key


def _ad_connectors(servers: Sequence[HostFacts],
                   config: DirectoryConfig) -> Iterator[tuple[str, str | None, list[tuple[str, str]]]]:
    """(account user, domain, the (dn, scope) objects that server syncs in the block's domain) per AD
    connector of ``servers``."""
    for server in servers:
        if not server.has("connectors"):
            continue
        partitions = {}
        if server.has("config"):
            partitions = {c.name.lower(): c.partitions for c in server.config.connectors}
        for conn in server.connectors.connectors:
            if conn.type.upper() != "AD" or not conn.account_user:
                continue
            listed = [(o.object_dn, o.scope) for o in conn.permissions]
            if not listed:
                for partition in partitions.get(conn.name.lower(), ()):
                    if partition.selected and partition.name.upper().startswith("DC="):
                        listed.append((partition.name, "domain-root"))
                        listed.extend((ou, "ou") for ou in partition.inclusions
                                      if ou.lower() != partition.name.lower())
            # Objects of other domains are not on this block's DCs (one domain per pair is read).
            yield conn.account_user, conn.account_domain, [
                (dn, scope) for dn, scope in listed if dn.lower().endswith(config.base_dn.lower())]


def wanted(servers: Sequence[HostFacts], config: DirectoryConfig) -> tuple[list[tuple[str, str | None]],
                                                                          list[tuple[str, str]]]:
    """(account user, domain) of every AD connector of ``servers``, and the (dn, scope) objects to read."""
    accounts: list[tuple[str, str | None]] = []
    objects: dict[str, tuple[str, str]] = {config.base_dn.lower(): (config.base_dn, "domain-root")}
    for user, domain, listed in _ad_connectors(servers, config):
        accounts.append((user, domain))
        for dn, scope in listed:
            objects.setdefault(dn.lower(), (dn, scope))
    return accounts, list(objects.values())


def _own_objects(facts: DirectoryFacts, servers: Sequence[HostFacts],
                 config: DirectoryConfig) -> DirectoryFacts:
    """Each account judged on the domain root and the objects its own server syncs, as the server's own
    probe reads them: the pair's DACLs are read once, but an OU only the other server syncs is config-drift's
    finding, not a right this account lacks (found by the lab's directory conformance test)."""
    mine: dict[tuple[str, str], set[str]] = {}
    for user, domain, listed in _ad_connectors(servers, config):
        objects = mine.setdefault(account_key(user, domain), {config.base_dn.lower()})
        objects.update(dn.lower() for dn, _ in listed)
    return replace(facts, accounts=tuple(
        replace(a, permissions=tuple(p for p in a.permissions if p.object_dn.lower() in mine.get(a.key, ())))
        for a in facts.accounts))


def gather_directory(config: DirectoryConfig,
                     servers: Sequence[HostFacts]) -> tuple[DirectoryFacts | None, FactError | None]:
    from .read import read_directory

    accounts, objects = wanted(servers, config)
    try:
        return _own_objects(read_directory(config, accounts, objects), servers, config), None
    except DirectoryError as exc:
        return None, FactError("directory", exc.kind, str(exc))
    except Exception as exc:  # one pair's directory must never stop the run
        return None, FactError("directory", "ldap",
                               f"directory read failed ({type(exc).__name__}: {exc})")
