"""Tokens (msal, client credentials) and Microsoft Graph reads for one ``CloudConfig``.

One ``CloudClient`` per config per run: its msal app keeps the discovery document and the token, so a run
asks the identity platform for one token however many Graph calls it makes. Every third-party failure is
translated here into a one-line ``CloudError`` naming tenant, client, and (when Entra gave one) the AADSTS
code. Secrets (client secret, certificate password, tokens) never reach a message, a log line or a repr.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import msal
import requests

from ..errors import CloudError
from .config import CloudConfig
from .credentials import CredentialError, load_certificate_credential
from .http import CloudSession, first_line, parse_retry_after
from .retry import RetryPolicy, Transient, run_with_retries

log = logging.getLogger(__name__)

ORGANIZATION_PERMISSION = "Organization.Read.All"
USER_PERMISSION = "User.Read.All"
USER_SELECT = "id,userPrincipalName,onPremisesLastSyncDateTime,onPremisesExtensionAttributes"

# What to do about the AADSTS codes a misconfigured run meets most.
AADSTS_FIXES: dict[int, str] = {
    7000215: "use the secret's Value (not its Secret ID) from the app's Certificates & secrets page",
    7000222: "the client secret expired: create a new one on the app's Certificates & secrets page",
    700027: "upload this certificate's public part to the app registration, or point certificate_path at "
            "the key of a certificate the app has",
    700024: "the client assertion is outside its validity window: fix this machine's clock",
    7000218: "configure a client secret or certificate in the cloud block",
    700016: "check client_id and tenant_id: the app must be registered (or consented) in this tenant",
    90002: "check tenant_id (the directory id or its .onmicrosoft.com domain) and authority_host",
    1002012: "the scope must end in /.default",
    90055: "the tenant is throttled: run again later",
}
_TRANSIENT_TOKEN_ERRORS = frozenset({"temporarily_unavailable", "server_error"})
_TRANSIENT_GRAPH_STATUSES = frozenset({429, 500, 502, 503, 504})
_AADSTS = re.compile(r"AADSTS(\d+)")


def _tls_reason(exc: BaseException) -> str:
    text = str(exc)
    match = re.search(r"certificate verify failed: ([^(\]'\"]+)", text)
    if match:
        return f"certificate verify failed: {match.group(1).strip()}"
    match = re.search(r"\[SSL: ([A-Z_]+)\]", text)
    return match.group(1).lower().replace("_", " ") if match else "TLS handshake failed"


class CloudClient:
    """Token + Graph access for one tenant/app, retried for transient failures only.

    :param config: the pair's cloud block.
    :param retry: retry bounds; tests pass short ones.
    :param sleep: how to wait between attempts (``time.sleep``); tests pass a recorder.
    """

    def __init__(self, config: CloudConfig, *, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._session = CloudSession(timeout=config.timeout, ca_bundle=config.ca_bundle,
                                     trust_env=not config.is_loopback)
        # msal's replay memory for 5xx/429/400 token responses lives here, so a retry can clear it.
        self._http_cache: dict[str, Any] = {}
        self._app: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CloudClient({self.config})"

    def close(self) -> None:
        self._session.close()

    # --- errors -----------------------------------------------------------------------------------------

    def _error(self, message: str, *, code: str | None = None, fix: str | None = None) -> CloudError:
        return CloudError(message, tenant_id=self.config.tenant_id, client_id=self.config.client_id,
                          code=code, fix=fix)

    def _network(self, exc: requests.RequestException, where: str) -> Exception:
        """A requests failure as a CloudError (TLS: never retried) or a Transient (refused, timed out)."""
        host = urlsplit(getattr(exc.request, "url", "") or "").netloc or where
        if isinstance(exc, requests.exceptions.SSLError):
            return self._error(f"TLS verification of {host} failed ({_tls_reason(exc)})",
                               fix="set ca_bundle to the CA that issued that server's certificate "
                                   "(or fix the proxy that intercepts TLS)")
        if isinstance(exc, requests.exceptions.Timeout):
            return Transient(f"{where} at {host} did not answer within {self.config.timeout:g} s")
        if isinstance(exc, requests.exceptions.ConnectionError):
            return Transient(f"cannot connect to {where} at {host} (refused or unreachable)")
        return self._error(f"{where} at {host} failed: {type(exc).__name__}")

    def _give_up(self, error: Transient, attempts: int) -> CloudError:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return self._error(f"{error.message}{tries}",
                           fix="check network reachability and the service's health; run again later")

    # --- tokens -----------------------------------------------------------------------------------------

    def _credential(self) -> Any:
        if self.config.secret is not None:
            return self.config.secret
        assert self.config.certificate_path is not None
        try:
            return load_certificate_credential(self.config.certificate_path, self.config.certificate_password)
        except CredentialError as exc:
            raise self._error(str(exc), fix=exc.fix) from None

    def _build_app(self) -> Any:
        """msal fetches the tenant's discovery document in its constructor: network errors surface here."""
        self._session.forget_last_response()
        try:
            return msal.ConfidentialClientApplication(
                self.config.client_id,
                client_credential=self._credential(),
                authority=self.config.authority,
                instance_discovery=False,  # else a call to login.microsoftonline.com for any other host
                azure_region=False,  # else MSAL_FORCE_REGION would rewrite the host
                http_client=self._session,
                http_cache=self._http_cache,
                token_cache=msal.TokenCache(),
            )
        except requests.RequestException as exc:
            raise self._network(exc, "the identity platform") from None
        except msal.exceptions.MsalServiceError:  # discovery answered 5xx
            last = self._session.last_response
            raise Transient(f"tenant discovery answered HTTP {last.status if last else '5xx'}",
                            retry_after=last.retry_after if last else None) from None
        except KeyError:
            raise self._error(f"the discovery document of {self.config.authority} lacks an endpoint",
                              fix="check authority_host") from None
        except ValueError as exc:
            last = self._session.last_response
            if last is not None and (last.status == 429 or last.status >= 500):
                raise Transient(f"tenant discovery answered HTTP {last.status}",
                                retry_after=last.retry_after) from None
            code, detail = (last.error_code, last.error_detail) if last else (None, None)
            if last is not None and last.status in (400, 404):
                raise self._error(f"tenant not found at {self.config.authority_host}: "
                                  f"{detail or f'HTTP {last.status}'}", code=code,
                                  fix=AADSTS_FIXES[90002]) from None
            raise self._error(f"cannot read the tenant's discovery document: {first_line(str(exc))}",
                              fix="check authority_host and tenant_id") from None

    def _token_once(self) -> str:
        if self._app is None:
            self._app = self._build_app()
        self._session.forget_last_response()
        try:
            result: dict[str, Any] = self._app.acquire_token_for_client(
                scopes=[f"{self.config.graph_url}/.default"])
        except requests.RequestException as exc:
            raise self._network(exc, "the token endpoint") from None
        except msal.exceptions.MsalServiceError as exc:  # token endpoint 5xx
            last = self._session.last_response
            self._http_cache.clear()  # else msal answers the next attempt from its replay memory
            said = f"HTTP {last.status}" if last else str(exc)
            raise Transient(f"the token endpoint answered {said}",
                            retry_after=last.retry_after if last else None,
                            min_wait=self.retry.token_replay_s) from None
        except ValueError:  # a non-JSON error body
            last = self._session.last_response
            status = f"HTTP {last.status}" if last else "an unreadable answer"
            raise self._error(f"the token endpoint answered {status} without a JSON body",
                              fix="check authority_host points at the Microsoft identity platform") from None
        token = result.get("access_token")
        if isinstance(token, str) and token:
            log.debug("token for %s from %s", self.config, result.get("token_source"))
            return token
        last = self._session.last_response
        if (last is not None and last.status == 429) or result.get("error") in _TRANSIENT_TOKEN_ERRORS:
            self._http_cache.clear()
            said = f"HTTP {last.status}" if last else "an error"
            raise Transient(f"the token endpoint answered {said} ({self._describe(result)})",
                            retry_after=last.retry_after if last else None,
                            min_wait=self.retry.token_replay_s)
        raise self._token_refused(result)

    @staticmethod
    def _codes(result: dict[str, Any]) -> list[int]:
        codes = [c for c in result.get("error_codes") or [] if isinstance(c, int)]
        if not codes:
            codes = [int(m) for m in _AADSTS.findall(str(result.get("error_description") or ""))]
        return codes

    def _describe(self, result: dict[str, Any]) -> str:
        detail = first_line(str(result.get("error_description") or "")) or "no description"
        return f"{result.get('error') or 'error'}: {detail}"

    def _token_refused(self, result: dict[str, Any]) -> CloudError:
        codes = self._codes(result)
        code = f"AADSTS{codes[0]}" if codes else None
        detail = self._describe(result)
        if code and code not in detail:
            detail = f"{code} {detail}"
        fix = next((AADSTS_FIXES[c] for c in codes if c in AADSTS_FIXES),
                   "check tenant_id, client_id and the credential in the cloud block")
        if self.config.credential_source and codes and codes[0] in (7000215, 7000222, 700027):
            fix = f"{fix} (this run's credential: {self.config.credential_source})"
        return self._error(f"token request refused: {detail}", code=code, fix=fix)

    def token(self) -> str:
        """An app-only Graph token; from msal's cache when one is still valid (no network then)."""
        with self._lock:
            try:
                return run_with_retries(self._token_once, self.retry, sleep=self._sleep)
            except Transient as exc:
                raise self._give_up(exc, self.retry.attempts) from None

    # --- Graph ------------------------------------------------------------------------------------------

    def _graph_error(self, response: requests.Response) -> tuple[str, str]:
        try:
            body = response.json()
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                return str(error.get("code") or ""), first_line(str(error.get("message") or ""))
        except ValueError:
            pass
        return "", ""

    def _get_once(self, path: str, params: dict[str, str] | None, permission: str,
                  missing_ok: bool) -> dict[str, Any] | None:
        token = self.token()
        url = f"{self.config.graph_url}{path}"
        try:
            response = self._session.get(url, params=params,
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Accept": "application/json"})
        except requests.RequestException as exc:
            raise self._network(exc, "Microsoft Graph") from None
        status = response.status_code
        if status == 200:
            try:
                body = response.json()
            except ValueError:
                raise self._error(f"Graph GET {path} answered 200 without JSON",
                                  fix="check graph_url points at Microsoft Graph") from None
            if not isinstance(body, dict):
                raise self._error(f"Graph GET {path} answered a {type(body).__name__}, not an object",
                                  fix="check graph_url points at Microsoft Graph")
            return body
        code, message = self._graph_error(response)
        said = f"{code}: {message}" if code else (message or "no error body")
        if status == 404 and missing_ok:
            return None
        if status in _TRANSIENT_GRAPH_STATUSES:
            raise Transient(f"Graph GET {path} answered HTTP {status} ({said})",
                            retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status == 403:
            raise self._error(f"Graph GET {path} denied (HTTP 403 {said}): the app lacks the application "
                              f"permission {permission}", code=code or None,
                              fix=f"grant the Microsoft Graph application permission {permission} to app "
                                  f"{self.config.client_id} and grant admin consent (see docs/cloud.md)")
        if status == 401:
            with self._lock:
                if self._app is not None:
                    self._app.remove_tokens_for_client()  # never reuse a token Graph refused
            raise self._error(f"Graph GET {path} rejected the access token (HTTP 401 {said})",
                              code=code or None,
                              fix="check graph_url matches the token audience (the Graph of the "
                                  "authority's cloud)")
        raise self._error(f"Graph GET {path} answered HTTP {status} ({said})", code=code or None,
                          fix="check graph_url and the request; see the message for Graph's reason")

    def get(self, path: str, *, params: dict[str, str] | None = None, permission: str,
            missing_ok: bool = False, attempts: int | None = None) -> dict[str, Any] | None:
        """GET a Graph path (e.g. ``/v1.0/organization``) as JSON, retrying 429/5xx/timeouts.

        :param permission: the application permission the call needs (named in a 403 message).
        :param missing_ok: return None for 404 instead of raising.
        """
        tries = attempts if attempts is not None else self.retry.attempts
        try:
            return run_with_retries(lambda: self._get_once(path, params, permission, missing_ok),
                                    self.retry, attempts=tries, sleep=self._sleep)
        except Transient as exc:
            raise self._give_up(exc, tries) from None

    def organization(self) -> dict[str, Any]:
        """The tenant's organization object (v1.0)."""
        body = self.get("/v1.0/organization",
                        params={"$select": "id,onPremisesSyncEnabled,onPremisesLastSyncDateTime"},
                        permission=ORGANIZATION_PERMISSION)
        assert body is not None
        value = body.get("value")
        if not isinstance(value, list) or not value or not isinstance(value[0], dict):
            raise self._error("Graph GET /v1.0/organization returned no organization",
                              fix=f"check the app has {ORGANIZATION_PERMISSION} and graph_url is right")
        return value[0]

    def beta_organization(self) -> dict[str, Any] | None:
        """The beta organization (``onPremisesLastPasswordSyncDateTime``), or None when it can't be read.

        Beta is optional: one attempt, and any failure only means the password-sync time is unknown.
        """
        try:
            body = self.get("/beta/organization", params={"$select": "id,onPremisesLastPasswordSyncDateTime"},
                            permission=ORGANIZATION_PERMISSION, attempts=1)
        except CloudError as exc:
            log.info("beta organization unavailable: %s", exc)
            return None
        value = body.get("value") if body else None
        return value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else None

    def user(self, key: str) -> dict[str, Any] | None:
        """A user by id or UPN with the on-premises sync properties; None when the tenant has no such user."""
        # A UPN starting with '$' must be addressed as users('...'); '#' etc. are percent-encoded.
        segment = f"('{quote(key, safe='@$')}')" if key.startswith("$") else f"/{quote(key, safe='@')}"
        return self.get(f"/v1.0/users{segment}", params={"$select": USER_SELECT}, permission=USER_PERMISSION,
                        missing_ok=True)


_clients: dict[CloudConfig, CloudClient] = {}
_clients_lock = threading.Lock()


def client_for(config: CloudConfig) -> CloudClient:
    """The run's client for ``config`` (built once, so its token is reused by every later call)."""
    with _clients_lock:
        client = _clients.get(config)
        if client is None:
            client = _clients[config] = CloudClient(config)
        return client


def close_clients() -> None:
    """Forget every cached client (end of a run, or between tests)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
