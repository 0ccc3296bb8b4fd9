"""The table of every setting: file path, environment variable, flag and rule.

One row per setting drives the environment reader, the command-line flags, the
error messages and the README's configuration table (a test keeps the README
in step with this table and with the settings model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["str", "url", "int", "bool", "choice", "json", "path"]


@dataclass(frozen=True)
class Setting:
    """One configurable value.

    ``path`` is the dotted JSON-file key (``upstream.timeoutMs``), ``env`` the
    environment variable, ``flag`` the long command-line option (None when the
    setting has none), ``rule`` the human sentence used in error messages,
    ``default`` the README's wording of the default, ``secret`` whether the value
    must never be echoed. A ``switch`` flag takes no argument and sets the
    setting to that boolean.
    """

    path: str
    env: str
    kind: Kind
    default: str
    rule: str
    meaning: str
    flag: str | None = None
    switch: bool | None = None
    secret: bool = False
    choices: tuple[str, ...] = ()


LOG_LEVELS = ("trace", "debug", "info", "warn", "error", "fatal", "silent")
TRANSPORTS = ("auto", "streamable-http", "sse")
GRANTS = ("authorization_code", "client_credentials", "device_code", "none")
AUTH_STYLES = ("auto", "body", "header", "private_key_jwt", "none")
TOKEN_STORES = ("auto", "keyring", "file", "memory")
BOOL_RULE = "true/false, 1/0, yes/no or on/off"


def _choice(*values: str) -> str:
    return "one of " + ", ".join(values)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "upstream.url",
        "UPSTREAM_URL",
        "url",
        "required",
        "an https URL (http only to a loopback host)",
        "MCP endpoint of the remote server",
        flag="URL",
    ),
    Setting(
        "upstream.timeoutMs",
        "UPSTREAM_TIMEOUT_MS",
        "int",
        "300000",
        "a whole number of milliseconds from 1 to 86400000",
        "connect + time to response headers; also the longest silence inside a response stream",
        flag="--timeout-ms",
    ),
    Setting(
        "upstream.openServerStream",
        "UPSTREAM_OPEN_SERVER_STREAM",
        "bool",
        "true",
        BOOL_RULE,
        "open the GET stream for server-initiated messages after initialize",
        flag="--no-server-stream",
        switch=False,
    ),
    Setting(
        "upstream.protocolVersion",
        "UPSTREAM_PROTOCOL_VERSION",
        "str",
        "negotiated",
        "a protocol revision such as 2025-06-18",
        "value of MCP-Protocol-Version; unset = the version negotiated in initialize",
    ),
    Setting(
        "upstream.headers",
        "UPSTREAM_HEADERS",
        "json",
        "none",
        "a JSON object of header names to string values",
        "extra headers for every upstream request; ${VAR} expands from the environment",
        flag="--header",
    ),
    Setting(
        "upstream.transport",
        "UPSTREAM_TRANSPORT",
        "choice",
        "auto",
        _choice(*TRANSPORTS),
        "auto (Streamable HTTP, falling back to HTTP+SSE), streamable-http or sse",
        flag="--transport",
        choices=TRANSPORTS,
    ),
    Setting(
        "upstream.maxMessageBytes",
        "UPSTREAM_MAX_MESSAGE_BYTES",
        "int",
        "134217728",
        "a whole number of bytes from 1024 to 4294967296",
        "largest upstream message (a JSON body or one SSE event, decompressed) forwarded; "
        "a larger one fails its request",
    ),
    Setting(
        "log.level",
        "LOG_LEVEL",
        "choice",
        "info",
        _choice(*LOG_LEVELS),
        "stderr log level",
        flag="--log-level",
        choices=LOG_LEVELS,
    ),
    Setting(
        "log.format",
        "LOG_FORMAT",
        "choice",
        "console on a terminal, else json",
        _choice("console", "json"),
        "stderr rendering",
        flag="--log-format",
        choices=("console", "json"),
    ),
    Setting(
        "discovery.enabled",
        "DISCOVERY_ENABLED",
        "bool",
        "true",
        BOOL_RULE,
        "discover OAuth endpoints from the upstream",
        flag="--no-discovery",
        switch=False,
    ),
    Setting(
        "allowInsecureHttp",
        "ALLOW_INSECURE_HTTP",
        "bool",
        "false",
        BOOL_RULE,
        "permit http:// to non-loopback hosts",
        flag="--allow-insecure-http",
        switch=True,
    ),
    Setting(
        "maxLineBytes",
        "MAX_LINE_BYTES",
        "int",
        "134217728",
        "a whole number of bytes from 1024 to 4294967296",
        "longest stdin line (one client message) accepted; a longer one is skipped and answered "
        "with an error",
    ),
    Setting(
        "oauth2.grant",
        "OAUTH2_GRANT",
        "choice",
        "authorization_code",
        _choice(*GRANTS),
        "authorization_code, client_credentials, device_code or none (static headers only)",
        flag="--grant",
        choices=GRANTS,
    ),
    Setting(
        "oauth2.tokenUrl",
        "OAUTH2_TOKEN_URL",
        "url",
        "discovered",
        "an https URL (http only to a loopback host)",
        "token endpoint",
    ),
    Setting(
        "oauth2.authorizationUrl",
        "OAUTH2_AUTHORIZATION_URL",
        "url",
        "discovered",
        "an https URL (http only to a loopback host)",
        "authorization endpoint",
    ),
    Setting(
        "oauth2.deviceAuthorizationUrl",
        "OAUTH2_DEVICE_AUTHORIZATION_URL",
        "url",
        "discovered",
        "an https URL (http only to a loopback host)",
        "device authorization endpoint (RFC 8628)",
    ),
    Setting(
        "oauth2.clientId",
        "OAUTH2_CLIENT_ID",
        "str",
        "registered",
        "a non-empty string",
        "pre-registered client id",
        flag="--client-id",
    ),
    Setting(
        "oauth2.clientSecret",
        "OAUTH2_CLIENT_SECRET",
        "str",
        "none",
        "a non-empty string",
        "client secret of a confidential client",
        secret=True,
    ),
    Setting(
        "oauth2.clientMetadataUrl",
        "OAUTH2_CLIENT_METADATA_URL",
        "url",
        "none",
        "an https URL",
        "Client ID Metadata Document URL used as client_id where supported",
    ),
    Setting(
        "oauth2.scope",
        "OAUTH2_SCOPE",
        "str",
        "chosen per the MCP rules",
        "space-separated scope names",
        "requested scopes",
        flag="--scope",
    ),
    Setting(
        "oauth2.resource",
        "OAUTH2_RESOURCE",
        "str",
        "the upstream's canonical URI",
        "an absolute URI",
        "RFC 8707 resource indicator",
        flag="--resource",
    ),
    Setting(
        "oauth2.audience",
        "OAUTH2_AUDIENCE",
        "str",
        "none",
        "a non-empty string",
        "audience form parameter (some providers)",
    ),
    Setting(
        "oauth2.authStyle",
        "OAUTH2_AUTH_STYLE",
        "choice",
        "auto",
        _choice(*AUTH_STYLES),
        "token-endpoint client authentication",
        flag="--auth-style",
        choices=AUTH_STYLES,
    ),
    Setting(
        "oauth2.clientAssertionKeyFile",
        "OAUTH2_CLIENT_ASSERTION_KEY_FILE",
        "path",
        "none",
        "a path to a PEM private key",
        "private key for private_key_jwt",
    ),
    Setting(
        "oauth2.clientAssertionKey",
        "OAUTH2_CLIENT_ASSERTION_KEY",
        "str",
        "none",
        "a PEM private key",
        "the private key itself, instead of a file",
        secret=True,
    ),
    Setting(
        "oauth2.clientAssertionAlg",
        "OAUTH2_CLIENT_ASSERTION_ALG",
        "str",
        "from the key",
        "a JWS algorithm such as RS256 or ES256",
        "client assertion signing algorithm",
    ),
    Setting(
        "oauth2.refreshSkewSeconds",
        "OAUTH2_REFRESH_SKEW_SECONDS",
        "int",
        "30",
        "a whole number of seconds from 0 to 3600",
        "refresh this long before expiry",
    ),
    Setting(
        "oauth2.extraParams",
        "OAUTH2_EXTRA_PARAMS",
        "json",
        "none",
        "a JSON object of parameter names to string values",
        "extra authorize/token parameters; never overrides protocol parameters",
    ),
    Setting(
        "oauth2.authorizationCode",
        "OAUTH2_AUTHORIZATION_CODE",
        "str",
        "none",
        "a non-empty string",
        "one-shot authorization code, skips the browser",
        secret=True,
    ),
    Setting(
        "oauth2.codeVerifier",
        "OAUTH2_CODE_VERIFIER",
        "str",
        "none",
        "a non-empty string",
        "PKCE verifier for that code",
        secret=True,
    ),
    Setting(
        "oauth2.refreshToken",
        "OAUTH2_REFRESH_TOKEN",
        "str",
        "none",
        "a non-empty string",
        "seed refresh token, skips the browser",
        secret=True,
    ),
    Setting(
        "oauth2.redirectUri",
        "OAUTH2_REDIRECT_URI",
        "url",
        "http://127.0.0.1:<port>/callback",
        "an http loopback or https URL",
        "redirect URI override",
    ),
    Setting(
        "oauth2.interactive",
        "OAUTH2_INTERACTIVE",
        "bool",
        "true",
        BOOL_RULE,
        "allow a browser login",
    ),
    Setting(
        "oauth2.openBrowser",
        "OAUTH2_OPEN_BROWSER",
        "bool",
        "true",
        BOOL_RULE,
        "launch the browser; false = only print the URL",
        flag="--no-browser",
        switch=False,
    ),
    Setting(
        "oauth2.callbackHost",
        "OAUTH2_CALLBACK_HOST",
        "str",
        "127.0.0.1",
        "a loopback address (127.0.0.0/8, ::1 or localhost)",
        "callback listener address",
    ),
    Setting(
        "oauth2.callbackPort",
        "OAUTH2_CALLBACK_PORT",
        "int",
        "53682",
        "a whole number from 0 to 65535",
        "callback port; 0 = any free port",
        flag="--callback-port",
    ),
    Setting(
        "oauth2.callbackTimeoutSeconds",
        "OAUTH2_CALLBACK_TIMEOUT_SECONDS",
        "int",
        "300",
        "a whole number of seconds from 1 to 86400",
        "how long to wait for the browser",
    ),
    Setting(
        "oauth2.tokenCacheDir",
        "OAUTH2_TOKEN_CACHE_DIR",
        "path",
        "per-OS user config dir",
        "a directory path",
        "where the encrypted cache lives",
    ),
    Setting(
        "oauth2.tokenStore",
        "OAUTH2_TOKEN_STORE",
        "choice",
        "auto",
        _choice(*TOKEN_STORES),
        "auto (OS keychain if usable, else file), keyring, file or memory",
        flag="--token-store",
        choices=TOKEN_STORES,
    ),
)

BY_PATH: dict[str, Setting] = {s.path: s for s in SETTINGS}
BY_ENV: dict[str, Setting] = {s.env: s for s in SETTINGS}

__all__ = ["BY_ENV", "BY_PATH", "SETTINGS", "Setting"]
