"""The identity half of the stand-in: OIDC discovery and the client-credentials token endpoint.

Behaves like the Microsoft identity platform v2.0 as msal 1.39 sees it: discovery by tenant id or domain,
``client_secret_post`` or a ``private_key_jwt`` assertion (PS256/RS256, ``x5t`` or ``x5t#S256``, padded or
not), Entra's error envelope with AADSTS codes, and a token response with ``expires_in`` 3599 and no
``scope``. Tokens are opaque; the Graph half asks this object what a token may do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..tenant import CloudApp, SimulatedTenant
from .replies import Reply, entra_error

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class IssuedToken:
    client_id: str
    roles: tuple[str, ...]
    expires_at: float  # time.monotonic()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Identity:
    """Discovery + token endpoint over one ``SimulatedTenant``. ``base_url`` is set once the port is known."""

    def __init__(self, tenant: SimulatedTenant, *, token_lifetime_s: int = 3599) -> None:
        self.tenant = tenant
        self.base_url = ""
        self.token_lifetime_s = token_lifetime_s
        self._tokens: dict[str, IssuedToken] = {}
        self._lock = threading.Lock()

    # --- tenants ----------------------------------------------------------------------------------------

    def knows_tenant(self, key: str) -> bool:
        lowered = key.lower()
        with self.tenant.lock:
            return lowered in (self.tenant.tenant_id.lower(), self.tenant.domain.lower())

    def token_endpoint(self) -> str:
        return f"{self.base_url}/{self.tenant.tenant_id}/oauth2/v2.0/token"

    def discovery(self, tenant_key: str) -> Reply:
        if not self.knows_tenant(tenant_key):
            return entra_error(400, "invalid_tenant", 90002,
                               f"Tenant '{tenant_key}' not found. Check to make sure you have the correct "
                               "tenant ID and are signing into the correct cloud.", base_url=self.base_url)
        base, tid = self.base_url, self.tenant.tenant_id
        return Reply(200, {
            "token_endpoint": self.token_endpoint(),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tid}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{tid}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        })

    # --- token endpoint ---------------------------------------------------------------------------------

    def _error(self, status: int, error: str, code: int, description: str) -> Reply:
        return entra_error(status, error, code, description, base_url=self.base_url)

    def invalid_secret(self, client_id: str) -> Reply:
        return self._error(401, "invalid_client", 7000215,
                           "Invalid client secret provided. Ensure the secret being sent in the request is "
                           f"the client secret value, not the client secret ID, for a secret added to app "
                           f"'{client_id}'.")

    def _check_assertion(self, app: CloudApp, assertion: str) -> Reply | None:
        """None when the assertion is signed by the app's certificate for this token endpoint."""
        bad = self._error(401, "invalid_client", 700027,
                          "Client assertion failed signature validation. Trace the certificate thumbprint "
                          f"against the keys registered for app '{app.client_id}'.")
        if app.certificate_pem is None:
            return bad
        try:
            header = jwt.get_unverified_header(assertion)
            certificate = x509.load_pem_x509_certificate(app.certificate_pem)
        except (jwt.InvalidTokenError, ValueError):
            return bad
        der = certificate.public_bytes(Encoding.DER)
        # msal pads x5t / x5t#S256 with '='; compare without padding.
        x5t, x5t256 = header.get("x5t"), header.get("x5t#S256")
        thumbprint_ok = (
            (isinstance(x5t, str) and x5t.rstrip("=") == _b64url(hashlib.sha1(der).digest()))
            or (isinstance(x5t256, str) and x5t256.rstrip("=") == _b64url(hashlib.sha256(der).digest()))
        )
        if not thumbprint_ok:
            return bad
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion, certificate.public_key(),  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"], audience=self.token_endpoint(),
                options={"require": ["exp", "aud", "iss", "sub"]}, leeway=300)
        except jwt.ExpiredSignatureError:
            return self._error(401, "invalid_client", 700024,
                               "Client assertion is not within its valid time range.")
        except jwt.InvalidAudienceError:
            return self._error(401, "invalid_client", 700027,
                               f"Client assertion contains an invalid audience; expected "
                               f"'{self.token_endpoint()}'.")
        except jwt.InvalidTokenError:
            return bad
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
            return self._error(401, "invalid_client", 700023,
                               "Client assertion audience or issuer claim does not match the client id.")
        return None

    def token(self, tenant_key: str, form: dict[str, str], *, force_invalid_client: bool = False) -> Reply:
        if not self.knows_tenant(tenant_key):
            return self._error(400, "invalid_request", 90002,
                               f"Tenant '{tenant_key}' not found. Check to make sure you have the correct "
                               "tenant ID and are signing into the correct cloud.")
        client_id = form.get("client_id", "")
        grant_type = form.get("grant_type", "")
        if grant_type != "client_credentials":
            return self._error(400, "unsupported_grant_type", 70003,
                               f"The app requested an unsupported grant type '{grant_type}'.")
        with self.tenant.lock:
            app = self.tenant.apps.get(client_id)
            roles = tuple(app.roles) if app else ()
        if app is None:
            reply = self._error(400, "unauthorized_client", 700016,
                                f"Application with identifier '{client_id}' was not found in the directory "
                                f"'{self.tenant.domain}'. This can happen if the application has not been "
                                "installed by the administrator of the tenant or consented to by any user in "
                                "the tenant.")
            reply.client_id = client_id or None
            return reply
        scope = form.get("scope", "")
        if not scope.split() or not all(s.endswith("/.default") for s in scope.split()):
            return self._error(400, "invalid_scope", 1002012,
                               f"The provided value for scope {scope} is not valid. Client credential flows "
                               "must have a scope value with /.default suffixed to the resource identifier.")
        secret = form.get("client_secret")
        assertion = form.get("client_assertion")
        refused: Reply | None
        if force_invalid_client:
            refused = self.invalid_secret(client_id)
        elif secret is not None:
            expected = app.client_secret
            matches = expected is not None and hmac.compare_digest(secret.encode(), expected.encode())
            refused = None if matches else self.invalid_secret(client_id)
        elif assertion is not None:
            if form.get("client_assertion_type") != JWT_BEARER:
                refused = self._error(401, "invalid_client", 700027,
                                      f"client_assertion_type must be '{JWT_BEARER}'.")
            else:
                refused = self._check_assertion(app, assertion)
        else:
            refused = self._error(401, "invalid_client", 7000218,
                                  "The request body must contain the following parameter: 'client_assertion' "
                                  "or 'client_secret'.")
        if refused is not None:
            refused.client_id = client_id
            return refused
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = IssuedToken(client_id, roles, time.monotonic() + self.token_lifetime_s)
        return Reply(200, {"token_type": "Bearer", "expires_in": self.token_lifetime_s,
                           "ext_expires_in": self.token_lifetime_s, "access_token": token},
                     client_id=client_id)

    def lookup(self, token: str) -> IssuedToken | None:
        """The issued token (also when expired: the caller tells expired from unknown)."""
        with self._lock:
            return self._tokens.get(token)

    def expire_all(self) -> None:
        """Make every issued token expired (a test knob for Graph's 401 'token is expired')."""
        with self._lock:
            self._tokens = {k: IssuedToken(v.client_id, v.roles, 0.0) for k, v in self._tokens.items()}
