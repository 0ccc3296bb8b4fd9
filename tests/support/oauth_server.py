"""An in-process OAuth 2 authorization server plus an OAuth-protected MCP endpoint.

Built for tests: it issues codes (PKCE S256 checked), rotating refresh tokens
(reuse of a rotated token revokes the whole grant), client-credentials tokens,
registers clients (RFC 7591), accepts Client ID Metadata Document URLs as
client ids when told to, verifies ``private_key_jwt`` assertions (RFC 7523),
runs the device flow (RFC 8628) from a script of answers, revokes tokens
(RFC 7009), asks for more scope with 403 ``insufficient_scope``, and can be
told to fail in each way a real server fails. Every request it sees is
recorded so tests can assert where tokens went.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

ISSUER = "https://auth.test"
RESOURCE = "https://mcp.test/mcp"
CLIENT_ID = "test-client"


@dataclass
class Seen:
    """One request the server received."""

    method: str
    url: str
    headers: dict[str, str]
    body: str


@dataclass
class Grant:
    """What a code or refresh token stands for."""

    client_id: str
    scope: str
    resource: str | None
    family: str


@dataclass
class Client:
    """A client the server knows: pre-registered or dynamically registered."""

    client_id: str
    secret: str | None = None
    auth_method: str = "none"
    redirect_uris: tuple[str, ...] = ()
    jwks: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeviceGrant:
    """A pending device login."""

    grant: Grant
    script: list[str]
    expires_at: float


@dataclass
class FakeAuthServer:
    """State and failure switches of the test server."""

    issuer: str = ISSUER
    resource: str = RESOURCE
    client_id: str = CLIENT_ID
    client_secret: str | None = None
    token_ttl: int = 3600
    rotate_refresh_tokens: bool = True
    prm_enabled: bool = True
    as_metadata_enabled: bool = True
    iss_supported: bool = True
    challenge_scope: str | None = "mcp:read"
    metadata_overrides: dict[str, Any] = field(default_factory=dict)
    prm_overrides: dict[str, Any] = field(default_factory=dict)
    deny_authorization: bool = False
    wrong_iss: bool = False
    token_failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    codes: dict[str, tuple[Grant, str, str]] = field(default_factory=dict)
    refresh_tokens: dict[str, Grant] = field(default_factory=dict)
    spent_refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: dict[str, Grant] = field(default_factory=dict)
    revoked_families: set[str] = field(default_factory=set)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    registration_enabled: bool = True
    registrations: list[dict[str, Any]] = field(default_factory=list)
    clients: dict[str, Client] = field(default_factory=dict)
    cimd_supported: bool = False
    assertion_keys: dict[str, Any] = field(default_factory=dict)
    seen_jtis: set[str] = field(default_factory=set)
    device_script: list[str] = field(default_factory=list)
    device_grants: dict[str, DeviceGrant] = field(default_factory=dict)
    device_polls: list[float] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    required_scope: str | None = None
    grantable_scopes: set[str] | None = None
    enforce_expiry: bool = False
    reuse_detected: int = 0
    access_expiry: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------ helpers for tests

    def issue_refresh_token(self, scope: str = "mcp:read") -> str:
        """Mint a refresh token out of band (a 'pre-supplied' one)."""
        token = "rt-" + secrets.token_urlsafe(16)
        self.refresh_tokens[token] = Grant(
            self.client_id, scope, self.resource, secrets.token_hex(4)
        )
        return token

    def issue_code(self, redirect_uri: str, verifier: str) -> str:
        """Mint an authorization code out of band (a 'pre-supplied' one)."""
        code = "code-" + secrets.token_urlsafe(16)
        challenge = _s256(verifier)
        grant = Grant(self.client_id, "mcp:read", self.resource, secrets.token_hex(4))
        self.codes[code] = (grant, redirect_uri, challenge)
        return code

    def expire_access_tokens(self) -> None:
        """Make every issued access token invalid (the upstream will answer 401)."""
        self.access_tokens.clear()

    def fail_token_endpoint(self, error: str, status: int = 400, **extra: Any) -> None:
        """Queue one failure of the token endpoint."""
        self.token_failures.append((status, {"error": error, **extra}))

    def reject_client(self, client_id: str) -> None:
        """Forget a registered client: its requests now fail with invalid_client."""
        self.clients.pop(client_id, None)

    def metadata(self) -> dict[str, Any]:
        """The authorization-server metadata document."""
        doc: dict[str, Any] = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "device_authorization_endpoint": f"{self.issuer}/device_authorization",
            "revocation_endpoint": f"{self.issuer}/revoke",
            "scopes_supported": ["mcp:read", "mcp:write", "offline_access"],
            "response_types_supported": ["code"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                DEVICE_GRANT,
            ],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none",
            ],
            "authorization_response_iss_parameter_supported": self.iss_supported,
            "client_id_metadata_document_supported": self.cimd_supported,
        }
        if self.registration_enabled:
            doc["registration_endpoint"] = f"{self.issuer}/register"
        doc.update(self.metadata_overrides)
        return doc

    def app(self) -> Starlette:
        """The ASGI application serving both hosts (routing is by path)."""
        return Starlette(
            routes=[
                Route("/mcp", self._mcp, methods=["POST", "GET"]),
                Route("/.well-known/oauth-protected-resource/mcp", self._prm),
                Route("/.well-known/oauth-authorization-server", self._as_metadata),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
                Route("/register", self._register, methods=["POST"]),
                Route("/device_authorization", self._device_authorization, methods=["POST"]),
                Route("/revoke", self._revoke, methods=["POST"]),
            ]
        )

    # ------------------------------------------------------------ endpoints

    async def _record(self, request: Request) -> str:
        body = (await request.body()).decode("utf-8", "replace")
        self.seen.append(Seen(request.method, str(request.url), dict(request.headers), body))
        return body

    async def _mcp(self, request: Request) -> Response:
        body = await self._record(request)
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else None
        if token is not None and not self._access_valid(token):
            token_valid = False
        else:
            token_valid = token is not None
        if not token_valid:
            base = self.resource.rsplit("/mcp", 1)[0]
            params = [f'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"']
            if self.challenge_scope:
                params.append(f'scope="{self.challenge_scope}"')
            if token is not None:
                params.append('error="invalid_token"')
            return Response(
                status_code=401, headers={"WWW-Authenticate": "Bearer " + ", ".join(params)}
            )
        assert token is not None
        missing = self._missing_scope(self.access_tokens[token])
        if missing:
            challenge = f'Bearer error="insufficient_scope", scope="{self.required_scope}"'
            return Response(status_code=403, headers={"WWW-Authenticate": challenge})
        message = json.loads(body) if body else {}
        return JSONResponse({"jsonrpc": "2.0", "id": message.get("id"), "result": {"ok": True}})

    def _access_valid(self, token: str) -> bool:
        grant = self.access_tokens.get(token)
        if grant is None or grant.family in self.revoked_families:
            return False
        return not self.enforce_expiry or time.monotonic() < self.access_expiry.get(token, 0.0)

    def _missing_scope(self, grant: Grant) -> set[str]:
        return set((self.required_scope or "").split()) - set(grant.scope.split())

    async def _prm(self, request: Request) -> Response:
        await self._record(request)
        if not self.prm_enabled:
            return Response(status_code=404)
        doc = {
            "resource": self.resource,
            "authorization_servers": [self.issuer],
            "scopes_supported": ["mcp:read", "mcp:write"],
        }
        doc.update(self.prm_overrides)
        return JSONResponse(doc)

    async def _as_metadata(self, request: Request) -> Response:
        await self._record(request)
        if not self.as_metadata_enabled:
            return Response(status_code=404)
        return JSONResponse(self.metadata())

    async def _authorize(self, request: Request) -> Response:
        await self._record(request)
        q = request.query_params
        redirect_uri = q.get("redirect_uri", "")
        cid = q.get("client_id", "")
        if not self._known_client(cid) or not redirect_uri:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if not self._redirect_allowed(cid, redirect_uri):
            return JSONResponse(
                {"error": "invalid_request", "error_description": "redirect_uri"}, status_code=400
            )
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return JSONResponse(
                {"error": "invalid_request", "error_description": "PKCE"}, status_code=400
            )
        params: dict[str, str] = {"state": q.get("state", "")}
        if self.deny_authorization:
            params |= {"error": "access_denied", "error_description": "The user said <no>"}
        else:
            code = "code-" + secrets.token_urlsafe(16)
            grant = Grant(
                cid, self._grantable(q.get("scope", "")), q.get("resource"), secrets.token_hex(4)
            )
            self.codes[code] = (grant, redirect_uri, q["code_challenge"])
            params["code"] = code
        if self.iss_supported:
            params["iss"] = "https://evil.test" if self.wrong_iss else self.issuer
        return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)

    async def _token(self, request: Request) -> Response:  # noqa: PLR0911 - one answer per grant
        body = await self._record(request)
        form = dict(parse_qsl(body, keep_blank_values=True))
        self.token_requests.append(form)
        if self.token_failures:
            status, payload = self.token_failures.pop(0)
            return JSONResponse(payload, status_code=status)
        client_id = self._authenticate(request, form)
        if client_id is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._code_grant(form)
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        if grant_type == DEVICE_GRANT:
            return self._device_grant(form)
        if grant_type == "client_credentials":
            grant = Grant(
                client_id, self._grantable(form.get("scope", "")), form.get("resource"), "cc"
            )
            return self._tokens(grant, with_refresh=False)
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    def _authenticate(self, request: Request, form: dict[str, str]) -> str | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            raw = base64.b64decode(header[6:]).decode()
            cid, _, secret = raw.partition(":")
            cid, secret = unquote_plus(cid), unquote_plus(secret)
        else:
            cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        if "client_assertion" in form:
            return self._check_assertion(form)
        if cid == self.client_id:
            expected = self.client_secret
        elif cid in self.clients:
            expected = self.clients[cid].secret
        elif self.cimd_supported and cid.startswith("https://"):
            expected = None
        else:
            return None
        if expected is not None and secret != expected:
            return None
        return cid

    def _check_assertion(self, form: dict[str, str]) -> str | None:
        if (
            form.get("client_assertion_type")
            != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ):
            return None
        token = form["client_assertion"]
        cid = jwt.decode(token, options={"verify_signature": False}).get("iss", "")
        key = self.assertion_keys.get(cid)
        if key is None and cid in self.clients and self.clients[cid].jwks:
            key = jwt.PyJWK(self.clients[cid].jwks["keys"][0]).key
        if key is None:
            return None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256", "ES256", "EdDSA"],
                audience=self.issuer,
                options={"require": ["exp", "iat", "jti", "iss", "sub", "aud"]},
            )
        except jwt.InvalidTokenError:
            return None
        if claims["sub"] != cid or claims["jti"] in self.seen_jtis:
            return None
        self.seen_jtis.add(claims["jti"])
        return cid

    def _known_client(self, cid: str) -> bool:
        if cid == self.client_id or cid in self.clients:
            return True
        return self.cimd_supported and cid.startswith("https://")

    def _redirect_allowed(self, cid: str, redirect_uri: str) -> bool:
        client = self.clients.get(cid)
        if client is None:
            return True
        target = urlsplit(redirect_uri)
        for registered in client.redirect_uris:
            reg = urlsplit(registered)
            # RFC 8252 §7.3: any port for a port-less loopback redirect URI.
            same_port = reg.port is None or reg.port == target.port
            if (reg.hostname, reg.path, reg.scheme) == (
                target.hostname,
                target.path,
                target.scheme,
            ) and same_port:
                return True
        return False

    def _grantable(self, scope: str) -> str:
        if self.grantable_scopes is None:
            return scope
        return " ".join(s for s in scope.split() if s in self.grantable_scopes)

    # ------------------------------------------------------------ registration, device, revocation

    async def _register(self, request: Request) -> Response:
        body = await self._record(request)
        meta = json.loads(body)
        self.registrations.append(meta)
        if not self.registration_enabled:
            return Response(status_code=404)
        method = meta.get("token_endpoint_auth_method", "client_secret_basic")
        cid = "dyn-" + secrets.token_hex(6)
        secret = "sec-" + secrets.token_urlsafe(12) if method.startswith("client_secret") else None
        self.clients[cid] = Client(
            cid, secret, method, tuple(meta.get("redirect_uris", [])), meta.get("jwks"), meta
        )
        answer = {**meta, "client_id": cid, "client_id_issued_at": int(time.time())}
        if secret:
            answer |= {"client_secret": secret, "client_secret_expires_at": 0}
        return JSONResponse(answer, status_code=201)

    async def _device_authorization(self, request: Request) -> Response:
        body = await self._record(request)
        form = dict(parse_qsl(body, keep_blank_values=True))
        cid = self._authenticate(request, form)
        if cid is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        code = "dc-" + secrets.token_urlsafe(16)
        grant = Grant(
            cid, self._grantable(form.get("scope", "")), form.get("resource"), secrets.token_hex(4)
        )
        self.device_grants[code] = DeviceGrant(grant, list(self.device_script), 0.0)
        return JSONResponse(
            {
                "device_code": code,
                "user_code": "WDJB-MJHT",
                "verification_uri": f"{self.issuer}/device",
                "verification_uri_complete": f"{self.issuer}/device?user_code=WDJB-MJHT",
                "expires_in": 600,
                "interval": 5,
            }
        )

    def _device_grant(self, form: dict[str, str]) -> Response:
        pending = self.device_grants.get(form.get("device_code", ""))
        self.device_polls.append(time.monotonic())
        if pending is None:
            return _error("invalid_grant", "unknown device code")
        if pending.script:
            return _error(pending.script.pop(0), "scripted")
        del self.device_grants[form["device_code"]]
        return self._tokens(pending.grant, with_refresh=True)

    async def _revoke(self, request: Request) -> Response:
        body = await self._record(request)
        form = dict(parse_qsl(body, keep_blank_values=True))
        if self._authenticate(request, form) is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        token = form.get("token", "")
        self.revoked.append(token)
        self.refresh_tokens.pop(token, None)
        self.access_tokens.pop(token, None)
        return Response(status_code=200)

    def _code_grant(self, form: dict[str, str]) -> Response:
        entry = self.codes.pop(form.get("code", ""), None)
        if entry is None:
            return _error("invalid_grant", "unknown or used code")
        grant, redirect_uri, challenge = entry
        if form.get("redirect_uri") != redirect_uri:
            return _error("invalid_grant", "redirect_uri mismatch")
        if _s256(form.get("code_verifier", "")) != challenge:
            return _error("invalid_grant", "PKCE verification failed")
        if grant.resource and form.get("resource") != grant.resource:
            return _error("invalid_target", "resource differs from the authorization request")
        return self._tokens(grant, with_refresh=True)

    def _refresh_grant(self, form: dict[str, str]) -> Response:
        token = form.get("refresh_token", "")
        if token in self.spent_refresh_tokens:
            self.reuse_detected += 1
            grant_family = next((g.family for g in self.refresh_tokens.values()), None)
            self.revoked_families.add(grant_family or "")
            self.refresh_tokens.clear()
            return _error("invalid_grant", "refresh token reuse detected; grant revoked")
        grant = self.refresh_tokens.get(token)
        if grant is None or grant.family in self.revoked_families:
            return _error("invalid_grant", "unknown refresh token")
        if grant.resource and form.get("resource") and form["resource"] != grant.resource:
            return _error("invalid_target", "resource differs")
        if self.rotate_refresh_tokens:
            del self.refresh_tokens[token]
            self.spent_refresh_tokens.add(token)
        return self._tokens(
            grant, with_refresh=True, keep_refresh=None if self.rotate_refresh_tokens else token
        )

    def _tokens(
        self, grant: Grant, *, with_refresh: bool, keep_refresh: str | None = None
    ) -> Response:
        access = "at-" + secrets.token_urlsafe(16)
        self.access_tokens[access] = grant
        self.access_expiry[access] = time.monotonic() + self.token_ttl
        payload: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.token_ttl,
        }
        if grant.scope:
            payload["scope"] = grant.scope
        if with_refresh and keep_refresh is None:
            refresh = "rt-" + secrets.token_urlsafe(16)
            self.refresh_tokens[refresh] = grant
            payload["refresh_token"] = refresh
        return JSONResponse(payload, headers={"Cache-Control": "no-store"})

    def requests_to(self, host: str) -> list[Seen]:
        """Recorded requests whose URL host is ``host``."""
        return [s for s in self.seen if urlsplit(s.url).hostname == host]


DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _error(error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)
