"""Parse ``WWW-Authenticate`` headers (RFC 9110 §11.6.1, RFC 6750 §3, RFC 9728 §5.1).

Pure functions over strings. A header may carry several challenges
(``Basic realm="x", Bearer resource_metadata="…"``); parameters are
``name=token`` or ``name="quoted string"`` with backslash escapes; scheme and
parameter names are case-insensitive. Malformed input never raises: the parser
keeps what it could read, because a server's typo must not hide a usable
``resource_metadata`` URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

MAX_HEADER_CHARS = 16 * 1024
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# token68 (RFC 9110 §11.2): "=" only as trailing padding, then the end or a comma.
_TOKEN68_RE = re.compile(r"([A-Za-z0-9\-._~+/]+=*)[ \t]*(?=,|$)")
_WS = " \t"


@dataclass(frozen=True)
class Challenge:
    """One authentication challenge: its scheme (lower-case) and parameters."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    token68: str | None = None


@dataclass(frozen=True)
class BearerChallenge:
    """The parts of a ``Bearer`` challenge the OAuth client acts on."""

    resource_metadata: str | None = None
    scope: str | None = None
    error: str | None = None
    error_description: str | None = None


class _Cursor:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1

    def skip_commas(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WS + ",":
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take_while(self, allowed: frozenset[str]) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in allowed:
            self.pos += 1
        return self.text[start : self.pos]

    def quoted(self) -> str:
        """Read a quoted-string starting at the opening quote (RFC 9110 §5.6.4)."""
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            self.pos += 1
            if ch == "\\" and self.pos < len(self.text):
                out.append(self.text[self.pos])
                self.pos += 1
            elif ch == '"':
                break
            else:
                out.append(ch)
        return "".join(out)

    def skip_to_comma(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] != ",":
            if self.text[self.pos] == '"':
                self.quoted()
            else:
                self.pos += 1


def parse_www_authenticate(headers: str | Iterable[str]) -> list[Challenge]:
    """Return every challenge in one header value or several header lines.

    Input beyond :data:`MAX_HEADER_CHARS` is ignored, so a hostile server cannot
    make the parser work without bound.
    """
    values = [headers] if isinstance(headers, str) else list(headers)
    challenges: list[Challenge] = []
    budget = MAX_HEADER_CHARS
    for value in values:
        if budget <= 0:
            break
        challenges.extend(_parse_one(value[:budget]))
        budget -= len(value)
    return challenges


def _parse_one(text: str) -> list[Challenge]:
    cur = _Cursor(text)
    out: list[Challenge] = []
    while True:
        cur.skip_commas()
        scheme = cur.take_while(_TCHAR)
        if not scheme:
            if cur.peek() == "":
                return out
            cur.pos += 1  # garbage between challenges: skip one char and resynchronise
            continue
        params, token68 = _parse_params(cur)
        out.append(Challenge(scheme.lower(), MappingProxyType(params), token68))


def _parse_params(cur: _Cursor) -> tuple[dict[str, str], str | None]:
    params: dict[str, str] = {}
    token68: str | None = None
    cur.skip_ws()
    match = _TOKEN68_RE.match(cur.text, cur.pos)
    if match:
        cur.pos = match.end()
        token68 = match.group(1)
    while cur.peek() != "":
        cur.skip_commas()
        start = cur.pos
        name = cur.take_while(_TCHAR)
        cur.skip_ws()
        if not name:
            return params, token68
        if cur.peek() != "=":
            cur.pos = start  # not "name=": the next challenge's scheme
            return params, token68
        cur.pos += 1
        cur.skip_ws()
        value = cur.quoted() if cur.peek() == '"' else cur.take_while(_TCHAR)
        params.setdefault(name.lower(), value)
        cur.skip_ws()
        if cur.peek() not in (",", ""):
            cur.skip_to_comma()
    return params, token68


def bearer_challenge(challenges: Iterable[Challenge]) -> BearerChallenge | None:
    """Return the first ``Bearer`` challenge's OAuth parameters, if there is one."""
    for ch in challenges:
        if ch.scheme == "bearer":
            p = ch.params
            return BearerChallenge(
                resource_metadata=p.get("resource_metadata") or None,
                scope=p.get("scope") or None,
                error=p.get("error") or None,
                error_description=p.get("error_description") or None,
            )
    return None


__all__ = [
    "MAX_HEADER_CHARS",
    "BearerChallenge",
    "Challenge",
    "bearer_challenge",
    "parse_www_authenticate",
]
