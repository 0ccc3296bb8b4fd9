"""``httpx.Auth`` that adds the bearer token, retries after a 401 and steps up after a 403.

The bridge never knows: a 401 (RFC 6750 §3.1 ``invalid_token``) invalidates the
token and the request is retried once with a new one; a 403 with
``insufficient_scope`` authorizes again with the union of the scopes and
retries, at most :data:`MAX_STEP_UPS` times for one request, after which the
request fails with an :class:`~mcp_oauth2_proxy.errors.AuthError` (the bridge
answers it with a JSON-RPC error).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

import httpx

from ..errors import AuthError
from ..log import get_logger
from ..urls import origin
from .manager import TokenManager
from .www_authenticate import BearerChallenge, bearer_challenge, parse_www_authenticate

log = get_logger(__name__)
MAX_STEP_UPS = 2


def insufficient_scope(response: httpx.Response) -> BearerChallenge | None:
    """The Bearer challenge of a 403 ``insufficient_scope`` answer (RFC 6750 §3.1), else None."""
    if response.status_code != 403:
        return None
    challenge = bearer_challenge(
        parse_www_authenticate(response.headers.get_list("www-authenticate"))
    )
    if challenge is None or challenge.error != "insufficient_scope":
        return None
    return challenge


class BearerAuth(httpx.Auth):
    """``httpx.Auth`` adding the bearer token to requests for the upstream origin only."""

    requires_request_body = True  # a retry must be able to resend the body

    def __init__(self, manager: TokenManager, upstream_url: str) -> None:
        self._manager = manager
        self._origin = origin(upstream_url)

    def sync_auth_flow(
        self,
        request: httpx.Request,  # noqa: ARG002 - httpx's signature
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Refuse synchronous use: tokens are obtained asynchronously."""
        raise RuntimeError("BearerAuth works only with httpx.AsyncClient")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Authorize ``request``; retry once after a 401 and up to twice after a step-up."""
        if origin(str(request.url)) != self._origin:
            request.headers.pop("Authorization", None)
            yield request
            return
        token = await self._authorize(request)
        response = yield request
        if response.status_code == 401:
            log.info("oauth.upstream_rejected_token", status=401)
            self._manager.invalidate(token)
            token = await self._authorize(request)
            response = yield request
        step_ups = 0
        while (challenge := insufficient_scope(response)) is not None:
            if step_ups == MAX_STEP_UPS:
                raise AuthError(
                    f"the upstream still refuses the request for lack of scope "
                    f"({challenge.scope or 'unspecified'}) after authorizing again "
                    f"{MAX_STEP_UPS} times",
                    error="insufficient_scope",
                    error_description=challenge.error_description,
                )
            step_ups += 1
            log.info("oauth.upstream_insufficient_scope", scope=challenge.scope, attempt=step_ups)
            await self._manager.step_up(token, challenge.scope)
            token = await self._authorize(request)
            response = yield request

    async def _authorize(self, request: httpx.Request) -> str:
        token = await self._manager.get_token()
        request.headers["Authorization"] = f"Bearer {token}"
        return token


__all__ = ["MAX_STEP_UPS", "BearerAuth", "insufficient_scope"]
