"""The device authorization grant (RFC 8628): log in on another device, poll for the result.

For machines without a browser: the verification URI and the user code are
printed on stderr (whatever the log level); the proxy polls the token endpoint
at the server's interval, five seconds slower after each ``slow_down``, until
the user approves, denies, or the code expires. Sleep and clock are injected
so tests never wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TextIO

from ..errors import AuthError
from ..log import get_logger
from .browser import PROG
from .client import Clock, TokenClient
from .grants import TokenSet
from .models import DeviceAuthorizationResponse

log = get_logger(__name__)
Sleep = Callable[[float], Awaitable[None]]
DEFAULT_INTERVAL_SECONDS = 5
SLOW_DOWN_SECONDS = 5


def announce_device_code(stderr: TextIO, answer: DeviceAuthorizationResponse) -> None:
    """Tell the user where to go and which code to enter."""
    lines = [
        f"{PROG}: to log in, open this URL on any device:",
        "",
        f"    {answer.verification_uri}",
        "",
        f"and enter the code:  {answer.user_code}",
    ]
    if answer.verification_uri_complete:
        lines += [
            "",
            "or open this URL, which carries the code:",
            "",
            f"    {answer.verification_uri_complete}",
        ]
    stderr.write("\n".join(lines) + "\n\n")
    stderr.flush()


async def device_login(
    *,
    endpoint: str | None,
    tokens: TokenClient,
    stderr: TextIO,
    clock: Clock,
    sleep: Sleep = asyncio.sleep,
) -> TokenSet:
    """Run one device login (RFC 8628 §3.1-§3.5).

    Raises:
        AuthError: no endpoint, the user denied, the code expired, or the
            server failed.

    """
    if not endpoint:
        raise AuthError(
            "no device authorization endpoint: the server does not advertise one; set "
            "OAUTH2_DEVICE_AUTHORIZATION_URL (oauth2.deviceAuthorizationUrl)"
        )
    answer = await tokens.device_authorization(endpoint)
    log.info("oauth.device_login_started", verification_uri=answer.verification_uri)
    announce_device_code(stderr, answer)
    return await poll_for_tokens(tokens, answer, clock=clock, sleep=sleep)


async def poll_for_tokens(
    tokens: TokenClient,
    answer: DeviceAuthorizationResponse,
    *,
    clock: Clock,
    sleep: Sleep,
) -> TokenSet:
    """Poll until the user acts (RFC 8628 §3.5)."""
    deadline = clock.now() + answer.expires_in
    interval = float(answer.interval or DEFAULT_INTERVAL_SECONDS)
    while True:
        await sleep(interval)
        if clock.now() >= deadline:
            raise _expired()
        try:
            result = await tokens.poll_device(answer.device_code)
        except AuthError as exc:
            if exc.error == "authorization_pending":
                continue
            if exc.error == "slow_down":
                interval += SLOW_DOWN_SECONDS
                log.debug("oauth.device_slow_down", interval=interval)
                continue
            if exc.error == "access_denied":
                raise AuthError("the device login was denied", error="access_denied") from None
            if exc.error == "expired_token":
                raise _expired() from None
            raise
        log.info("oauth.device_login_completed")
        return result


def _expired() -> AuthError:
    return AuthError(
        "the device login code expired before the login was completed; start again",
        error="expired_token",
    )


__all__ = ["Sleep", "announce_device_code", "device_login", "poll_for_tokens"]
