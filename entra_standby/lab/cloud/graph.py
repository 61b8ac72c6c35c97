"""The Graph half of the stand-in: organization (v1.0, beta) and users, read live from the tenant.

Only what the harness reads, with Graph's shapes: collections under ``value``, ``$select`` returning only
the selected properties (and 400 for a property the type lacks), ``onPremisesExtensionAttributes`` only
with ``$select``, roles from the token deciding 403 ``Authorization_RequestDenied``.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import unquote

from ..tenant import SimulatedTenant, TenantUser
from .identity import Identity
from .replies import Reply, graph_error, graph_time

ORGANIZATION_ROLES = frozenset({"Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All",
                                "Directory.ReadWrite.All"})
USER_ROLES = frozenset({"User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
                        "Directory.ReadWrite.All"})

USER_DEFAULT_PROPERTIES = ("businessPhones", "displayName", "givenName", "id", "jobTitle", "mail",
                           "mobilePhone", "officeLocation", "preferredLanguage", "surname",
                           "userPrincipalName")
_USERS_PATH = re.compile(r"^/(?P<version>v1\.0|beta)/users(?:/(?P<plain>[^/]+)|\('(?P<quoted>[^']+)'\))$")
_ORG_PATH = re.compile(r"^/(?P<version>v1\.0|beta)/organization(?:/(?P<id>[^/]+))?$")


def path_class(path: str) -> str | None:
    """``organization`` / ``users`` for Graph paths this stand-in serves, else None."""
    if _ORG_PATH.match(path):
        return "organization"
    if _USERS_PATH.match(path):
        return "users"
    return None


def _select(query: dict[str, list[str]]) -> list[str] | None:
    for key, values in query.items():
        if key.lower() == "$select" and values:
            return [p.strip() for p in ",".join(values).split(",") if p.strip()]
    return None


def _project(entity: dict[str, Any], selected: list[str] | None, default: tuple[str, ...] | None,
             type_name: str, client_request_id: str | None) -> dict[str, Any] | Reply:
    """Apply ``$select`` (case-insensitive names) or the type's default property set."""
    if selected is None:
        return {k: v for k, v in entity.items() if default is None or k in default}
    by_lower = {k.lower(): k for k in entity}
    chosen: dict[str, Any] = {}
    for name in selected:
        canonical = by_lower.get(name.lower())
        if canonical is None:
            return graph_error(400, "BadRequest", f"Could not find a property named '{name}' on type "
                               f"'microsoft.graph.{type_name}'.",
                               client_request_id=client_request_id)
        chosen[canonical] = entity[canonical]
    return chosen


class GraphApi:
    def __init__(self, tenant: SimulatedTenant, identity: Identity) -> None:
        self.tenant = tenant
        self.identity = identity

    def _context(self, version: str, suffix: str) -> str:
        return f"{self.identity.base_url}/{version}/$metadata#{suffix}"

    def authorize(self, authorization: str | None, needed: frozenset[str], permission: str,
                  client_request_id: str | None) -> tuple[Reply | None, str | None]:
        """(error reply or None, client id). Missing/expired/unknown token: 401; missing role: 403."""
        challenge = {"WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
                                          'common/oauth2/authorize", client_id="00000003-0000-0000-c000-'
                                          '000000000000"'}
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.",
                               client_request_id=client_request_id, headers=challenge), None
        issued = self.identity.lookup(token.strip())
        if issued is None:
            return graph_error(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.",
                               client_request_id=client_request_id, headers=challenge), None
        if issued.expires_at <= time.monotonic():
            return graph_error(401, "InvalidAuthenticationToken",
                               "Lifetime validation failed, the token is expired.",
                               client_request_id=client_request_id, headers=challenge), issued.client_id
        if not needed.intersection(issued.roles):
            return self.forbidden(client_request_id), issued.client_id
        return None, issued.client_id

    @staticmethod
    def forbidden(client_request_id: str | None) -> Reply:
        return graph_error(403, "Authorization_RequestDenied",
                           "Insufficient privileges to complete the operation.",
                           client_request_id=client_request_id)

    def _organization_entity(self, beta: bool) -> dict[str, Any]:
        t = self.tenant
        with t.lock:
            entity: dict[str, Any] = {
                "id": t.tenant_id,
                "displayName": t.display_name,
                "tenantType": "AAD",
                "onPremisesSyncEnabled": t.sync_enabled,
                "onPremisesLastSyncDateTime": graph_time(t.last_sync),
                "verifiedDomains": [{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": True,
                                     "isInitial": True, "name": t.domain, "type": "Managed"}],
            }
            if beta:
                entity["onPremisesLastPasswordSyncDateTime"] = graph_time(t.last_password_sync)
        return entity

    def organization(self, path: str, query: dict[str, list[str]], client_request_id: str | None) -> Reply:
        match = _ORG_PATH.match(path)
        assert match is not None
        version = match["version"]
        selected = _select(query)
        projected = _project(self._organization_entity(version == "beta"), selected, None, "organization",
                             client_request_id)
        if isinstance(projected, Reply):
            return projected
        suffix = f"organization({','.join(selected)})" if selected else "organization"
        if match["id"] is not None:
            if match["id"].lower() != self.tenant.tenant_id.lower():
                return graph_error(404, "Request_ResourceNotFound",
                                   f"Resource '{match['id']}' does not exist or one of its queried "
                                   "reference-property objects are not present.",
                                   client_request_id=client_request_id)
            return Reply(200, {"@odata.context": self._context(version, f"{suffix}/$entity"), **projected})
        return Reply(200, {"@odata.context": self._context(version, suffix), "value": [projected]})

    @staticmethod
    def _user_entity(user: TenantUser) -> dict[str, Any]:
        attributes = {f"extensionAttribute{i}": user.extension_attributes.get(f"extensionAttribute{i}")
                      for i in range(1, 16)}
        return {
            "businessPhones": [],
            "displayName": user.user_principal_name.split("@")[0],
            "givenName": None,
            "id": user.id,
            "jobTitle": None,
            "mail": user.user_principal_name,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": None,
            "surname": None,
            "userPrincipalName": user.user_principal_name,
            "onPremisesSyncEnabled": user.on_premises_sync_enabled,
            "onPremisesLastSyncDateTime": graph_time(user.on_premises_last_sync),
            "onPremisesImmutableId": None,
            "onPremisesExtensionAttributes": attributes,
        }

    def user(self, path: str, query: dict[str, list[str]], client_request_id: str | None) -> Reply:
        match = _USERS_PATH.match(path)
        assert match is not None
        key = unquote(match["plain"] or match["quoted"] or "")
        user = self.tenant.find_user(key)
        if user is None:
            return graph_error(404, "Request_ResourceNotFound",
                               f"Resource '{key}' does not exist or one of its queried reference-property "
                               "objects are not present.", client_request_id=client_request_id)
        with self.tenant.lock:
            entity = self._user_entity(user)
        selected = _select(query)
        projected = _project(entity, selected, USER_DEFAULT_PROPERTIES, "user", client_request_id)
        if isinstance(projected, Reply):
            return projected
        suffix = f"users({','.join(selected)})/$entity" if selected else "users/$entity"
        return Reply(200, {"@odata.context": self._context(match["version"], suffix), **projected})
