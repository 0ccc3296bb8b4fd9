"""The OAuth 2.1 authorization server: state, collaborators and its ASGI app.

:class:`AuthorizationServer` owns the injected collaborators (clock, client
registry, token storage, approval policy, metadata fetcher, failure injector,
event log) and the pending consent requests. The HTTP endpoints live in
:mod:`.metadata_endpoints`, :mod:`.authorize`, :mod:`.token_endpoint` and
:mod:`.device`; :meth:`AuthorizationServer.asgi_app` puts them together.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from .. import log
from .approval import ApprovalPolicy, AskUser, ConsentRequest
from .cimd import MetadataDocumentResolver, MetadataFetcher, StaticMetadataFetcher
from .cimd import is_metadata_client_id as _is_metadata_url
from .client_assertion import SUPPORTED_ALGORITHMS, AssertionVerifier
from .client_auth import authenticate_client
from .clients import SUPPORTED_AUTH_METHODS, ClientRegistry, InMemoryClientRegistry
from .clock import Clock, SystemClock
from .events import EventLog, EventRecorder
from .failures import FailureInjector
from .grants import TokenService
from .http import OAuthProtocolError
from .models import RegisteredClient, new_secret
from .settings import AuthorizationServerSettings
from .storage import InMemoryTokenStorage, TokenStorage
from .verifier import LocalTokenVerifier

CONSENT_TTL = 600
_log = log.get_logger(__name__)


@dataclass(frozen=True)
class PendingConsent:
    """A request waiting for the person's answer on a consent page."""

    consent_id: str
    csrf: str
    request: ConsentRequest
    expires_at: float
    state: str | None = None
    code_challenge: str = ""
    redirect_uri_in_request: bool = False
    user_code: str | None = None


class AuthorizationServer:
    """An OAuth 2.1 authorization server for the demo and the tests.

    Every collaborator is injectable; the defaults keep everything in memory.
    ``approval`` may be replaced at any time (auto-approve for headless runs,
    :class:`~.approval.AskUser` for the consent page).
    """

    def __init__(
        self,
        settings: AuthorizationServerSettings,
        *,
        clock: Clock | None = None,
        clients: ClientRegistry | None = None,
        storage: TokenStorage | None = None,
        approval: ApprovalPolicy | None = None,
        metadata_fetcher: MetadataFetcher | None = None,
        failures: FailureInjector | None = None,
        events: EventLog | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.clients: ClientRegistry = clients or InMemoryClientRegistry()
        self.storage: TokenStorage = storage or InMemoryTokenStorage()
        self.approval: ApprovalPolicy = approval or AskUser()
        self.failures = failures or FailureInjector()
        self.events = events or EventLog(self.clock)
        self.tokens = TokenService(settings, self.storage, self.clock)
        self.resolver = MetadataDocumentResolver(
            metadata_fetcher or StaticMetadataFetcher(), self.clock
        )
        self.assertions = AssertionVerifier(
            self.clock, (settings.issuer, settings.endpoint("/token"))
        )
        self._consents: dict[str, PendingConsent] = {}

    # -- clients ------------------------------------------------------------------

    async def find_client(self, client_id: str) -> RegisteredClient | None:
        """Return a registered client, or the client a metadata-document URL describes.

        Raises:
            OAuthProtocolError: ``invalid_client`` when a metadata document is unusable.
        """
        client = await self.clients.get(client_id)
        if client is not None:
            return client
        if self.settings.allow_metadata_documents and _is_metadata_url(client_id):
            return await self.resolver.resolve(client_id)
        return None

    async def authenticate(
        self, authorization: str | None, form: dict[str, str]
    ) -> RegisteredClient:
        """Authenticate the client of a token, revocation or device request (RFC 6749 §2.3)."""
        return await authenticate_client(
            authorization,
            form,
            self.find_client,
            strict_method=self.settings.strict_client_auth_method,
            assertions=self.assertions,
        )

    # -- metadata -----------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """Return the RFC 8414 authorization server metadata document."""
        s = self.settings
        doc: dict[str, Any] = {
            "issuer": s.issuer,
            "authorization_endpoint": s.endpoint("/authorize"),
            "token_endpoint": s.endpoint("/token"),
            "revocation_endpoint": s.endpoint("/revoke"),
            "device_authorization_endpoint": s.endpoint("/device_authorization"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:device_code",
            ],
            "token_endpoint_auth_methods_supported": list(SUPPORTED_AUTH_METHODS),
            "token_endpoint_auth_signing_alg_values_supported": list(SUPPORTED_ALGORITHMS),
            "revocation_endpoint_auth_methods_supported": list(SUPPORTED_AUTH_METHODS),
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": list(s.scopes_supported),
            "authorization_response_iss_parameter_supported": True,
            "client_id_metadata_document_supported": s.allow_metadata_documents,
        }
        if s.allow_dynamic_registration:
            doc["registration_endpoint"] = s.endpoint("/register")
        return doc

    def verifier(self) -> LocalTokenVerifier:
        """Return a token verifier that resource servers in this process can use."""
        return LocalTokenVerifier(self.tokens)

    # -- consent --------------------------------------------------------------------

    def open_consent(self, request: ConsentRequest, **fields: Any) -> PendingConsent:
        """Remember a request the person must answer; returns it with fresh ids."""
        self._drop_expired_consents()
        pending = PendingConsent(
            consent_id=new_secret(16),
            csrf=new_secret(24),
            request=request,
            expires_at=self.clock.now() + CONSENT_TTL,
            **fields,
        )
        self._consents[pending.consent_id] = pending
        return pending

    def pending_consents(self) -> list[PendingConsent]:
        """Return the requests currently waiting on a consent page."""
        self._drop_expired_consents()
        return list(self._consents.values())

    def take_consent(self, consent_id: str, csrf: str | None = None) -> PendingConsent | None:
        """Remove and return a pending consent; with ``csrf`` it must match too."""
        pending = self._consents.get(consent_id)
        if pending is None or pending.expires_at <= self.clock.now():
            return None
        if csrf is not None and not _same(pending.csrf, csrf):
            return None
        return self._consents.pop(consent_id)

    async def complete_consent(self, consent_id: str, *, approve: bool) -> str:
        """Answer a pending authorization-code consent as the person would.

        Returns:
            The URL the browser is sent to (the client's redirect URI with
            ``code`` or ``error``, ``state`` and ``iss``).
        """
        pending = self.take_consent(consent_id)
        if pending is None or pending.request.kind != "authorization_code":
            raise OAuthProtocolError("invalid_request", "no such pending authorization")
        return await self.finish_authorization(pending, approve=approve)

    async def finish_authorization(self, pending: PendingConsent, *, approve: bool) -> str:
        """Issue a code (or ``access_denied``) for ``pending`` and return the redirect URL."""
        request = pending.request
        assert request.redirect_uri is not None  # noqa: S101 - set for every code request
        if not approve:
            _log.info("server.authorization_denied", client_id=request.client.client_id)
            return self.redirect_url(
                request.redirect_uri, {"error": "access_denied"}, state=pending.state
            )
        code = await self.tokens.issue_code(
            request.client,
            redirect_uri=request.redirect_uri,
            redirect_uri_in_request=pending.redirect_uri_in_request,
            code_challenge=pending.code_challenge,
            scopes=request.scopes,
            resources=request.resources,
            subject=self.settings.subject,
        )
        _log.info("server.authorization_approved", client_id=request.client.client_id)
        return self.redirect_url(request.redirect_uri, {"code": code}, state=pending.state)

    def redirect_url(self, redirect_uri: str, params: dict[str, str], *, state: str | None) -> str:
        """Append response parameters, ``state`` and RFC 9207 ``iss`` to ``redirect_uri``."""
        extra = dict(params)
        if state is not None:
            extra["state"] = state
        extra["iss"] = self.settings.issuer
        parts = urlsplit(redirect_uri)
        query = f"{parts.query}&{urlencode(extra)}" if parts.query else urlencode(extra)
        return urlunsplit(parts._replace(query=query))

    async def approve_device(self, user_code: str) -> bool:
        """Approve a pending device request as the demo user; False if there is none."""
        return await self.tokens.decide_device(
            user_code, approve=True, subject=self.settings.subject
        )

    async def deny_device(self, user_code: str) -> bool:
        """Deny a pending device request; False if there is none."""
        return await self.tokens.decide_device(
            user_code, approve=False, subject=self.settings.subject
        )

    def _drop_expired_consents(self) -> None:
        now = self.clock.now()
        for key in [k for k, v in self._consents.items() if v.expires_at <= now]:
            del self._consents[key]

    # -- HTTP -----------------------------------------------------------------------

    @property
    def path_prefix(self) -> str:
        """The issuer's path ('' for an issuer at the root); endpoints live under it."""
        return urlsplit(self.settings.issuer).path.rstrip("/")

    def routes(self) -> list[BaseRoute]:
        """Return every route of the server."""
        from . import authorize, device, metadata_endpoints, token_endpoint

        return [
            *metadata_endpoints.routes(self),
            *authorize.routes(self),
            *token_endpoint.routes(self),
            *device.routes(self),
        ]

    def asgi_app(self) -> ASGIApp:
        """Return the server as an ASGI app that records every request in ``events``."""
        return EventRecorder(Starlette(routes=self.routes()), log=self.events, server="auth")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


__all__ = ["CONSENT_TTL", "AuthorizationServer", "PendingConsent"]
